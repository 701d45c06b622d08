"""The engineers who change the world: when they join, how active they are, what they work on."""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

from karma_pipelines.simulator.clock import DAY
from karma_pipelines.simulator.fields import choose, cumulative, pick

HANDLES = (
    "alice", "bram", "chen", "dana", "emeka", "farah", "goran", "hana", "ivan", "jules",
    "kofi", "lena", "marco", "nadia", "oscar", "priya", "quinn", "rosa", "sami", "tomas",
    "uma", "viktor", "wen", "xavi", "yara", "zeno", "amir", "bea", "carlos", "dmitri",
)  # fmt: skip
SOURCES = ("cli", "api", "ci")


@dataclass(frozen=True)
class User:
    handle: str
    joined_at: int  # seconds since the world's start
    activity: float  # relative share of the changes this engineer makes
    projects: tuple[str, ...]  # projects the engineer mostly works on
    source: str  # preferred way of deploying: cli, api or ci


def build_users(rng: np.random.Generator, n: int, projects: tuple[str, ...], days: int) -> tuple[User, ...]:
    """`n` engineers: most there from day one, some joining late; activity varies a lot."""
    users = []
    for i in range(n):
        late = i > 0 and rng.random() < 0.3
        joined = int(rng.uniform(0.1, 0.75) * days * DAY) if late else 0
        activity = float(rng.lognormal(0.0, 0.6)) * (0.15 if rng.random() < 0.15 else 1.0)
        k = int(rng.integers(1, min(3, len(projects)) + 1))
        home = tuple(sorted(projects[int(j)] for j in rng.choice(len(projects), k, replace=False)))
        handle = HANDLES[i] if i < len(HANDLES) else f"{HANDLES[i % len(HANDLES)]}{i}"
        users.append(User(handle, joined, activity, home, pick(rng, SOURCES)))
    return tuple(users)


class UserPicker:
    """Chooses the author of a change: an active engineer, usually one of the project's team."""

    def __init__(self, users: tuple[User, ...]) -> None:
        self.users = users
        self._joins = sorted({u.joined_at for u in users})
        self._pools: dict[tuple[int, str], tuple[list[User], np.ndarray]] = {}  # users, `cumulative` table

    def _pool(self, t: int, project: str) -> tuple[list[User], np.ndarray]:
        epoch = bisect.bisect_right(self._joins, t)  # the pools only change when someone joins
        if (epoch, project) not in self._pools:
            active = [u for u in self.users if u.joined_at <= t] or [self.users[0]]
            pool = [u for u in active if project in u.projects] if project else active
            weights = np.array([u.activity for u in pool])
            self._pools[(epoch, project)] = (pool, cumulative(weights / weights.sum()) if pool else weights)
        return self._pools[(epoch, project)]

    def pick(self, rng: np.random.Generator, t: int, project: str) -> User:
        team, cdf_team = self._pool(t, project)
        pool, cdf = (team, cdf_team) if team and rng.random() < 0.8 else self._pool(t, "")
        return pool[choose(rng, cdf)]
