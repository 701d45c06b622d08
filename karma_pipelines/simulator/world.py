"""The world: projects, their services, one component per environment, and who depends on whom."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from karma_pipelines.contracts.schema import ENVIRONMENTS
from karma_pipelines.simulator.catalog import FOUNDATION, SERVICE_MIX, SPECS
from karma_pipelines.simulator.clock import DAY, HOUR, time_of_day
from karma_pipelines.simulator.people import User

PROJECTS = (
    "storefront", "payments", "identity", "search", "analytics", "billing", "catalog", "notify",
    "ledger", "media", "support", "growth", "shipping", "pricing", "reviews", "partners",
)  # fmt: skip


_ENV_WEIGHT = {"dev": 1.6, "staging": 0.9, "prod": 0.8}


@dataclass(frozen=True)
class Component:
    key: str  # `<type>/<nickname>`
    type: str
    nickname: str  # `<service>-<env>`, with `-a`/`-b` for a blue/green pair
    service: str
    env: str
    project: str
    owner: str
    refs: tuple[tuple[str, str], ...]  # (producer type, producer nickname), same environment
    created_at: int  # seconds since the world's start
    weight: float  # relative rate of changes
    shape_seed: int = 0  # seeds the first config, the same for a service in every environment
    alias: str | None = None  # `<type>/<service>-<env>` when one of a blue/green pair

    def ref(self, producer_type: str) -> str | None:
        return dict(self.refs).get(producer_type)


@dataclass
class World:
    components: dict[str, Component]
    projects: tuple[str, ...]
    users: tuple[User, ...] = ()
    aliases: dict[str, tuple[str, str]] = field(default_factory=dict)
    instances: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    unhealthy: dict[str, float] = field(default_factory=dict)  # planted: rollback factor (`twins`)
    planted: list[tuple[str, str]] = field(default_factory=list)  # (unhealthy producer, healthy twin)

    def targets(self, component: Component, env: str) -> list[str]:
        """Component keys of the same service in another environment (two for a pair)."""
        return self.instances.get((f"{component.type}/{component.service}", env), [])


@dataclass
class _Plan:
    project: str
    type: str
    service: str
    envs: list[str]
    pair: bool = False

    @property
    def size(self) -> int:
        return len(self.envs) + (1 if self.pair else 0)


def unique_name(base: str, taken: set[str]) -> str:
    """`base`, or `base2`, `base3`, … : the first not in `taken` (which it joins)."""
    name, i = base, 2
    while name in taken:
        name, i = f"{base}{i}", i + 1
    taken.add(name)
    return name


def _plan_services(rng: np.random.Generator, n: int, projects: tuple[str, ...]) -> list[_Plan]:
    plans: list[_Plan] = []
    taken: set[str] = set()

    def service_name(project: str, type_name: str) -> str:
        roles = SPECS[type_name].roles
        return unique_name(f"{project}-{roles[int(rng.integers(len(roles)))]}", taken)

    for project in projects:
        types = list(FOUNDATION) + (["cognito-sso"] if rng.random() < 0.5 else [])
        for type_name in types:
            name = f"{project}-{SPECS[type_name].roles[0]}"
            taken.add(name)
            plans.append(_Plan(project, type_name, name, list(ENVIRONMENTS)))
    total = 0
    kept: list[_Plan] = []
    for plan in plans:  # tiny worlds keep only the first foundations
        plan.envs = plan.envs[: max(0, n - total)]
        if plan.envs:
            kept.append(plan)
            total += plan.size
    mix_types = sorted(SERVICE_MIX)
    mix = np.array([SERVICE_MIX[t] for t in mix_types])
    while total < n:
        project = projects[int(rng.integers(len(projects)))]
        type_name = mix_types[int(rng.choice(len(mix), p=mix / mix.sum()))]
        envs = list(ENVIRONMENTS) if rng.random() < 0.8 else ["dev", "staging"]
        envs = envs[: n - total]
        pair = type_name == "ecs-service" and "prod" in envs and rng.random() < 0.25
        pair = pair or (type_name == "ecs-service" and "prod" in envs and not any(p.pair for p in kept))
        plan = _Plan(project, type_name, service_name(project, type_name), envs, pair)
        if total + plan.size > n:
            plan.pair = False
        kept.append(plan)
        total += plan.size
    return kept


def _creation_day(rng: np.random.Generator, plan: _Plan, days: int) -> int:
    if plan.type in FOUNDATION or plan.type == "cognito-sso":
        return int(rng.integers(0, min(3, days)))
    if rng.random() < 0.6:
        return int(rng.integers(0, min(14, days)))
    return int(rng.integers(0, max(1, int(days * 0.85))))


def build_world(rng: np.random.Generator, n: int, days: int) -> World:
    """`n` components in a handful of projects, each linked to producers of its environment."""
    n_projects = max(1, round(n / 30))
    projects = tuple(
        PROJECTS[i % len(PROJECTS)] + (str(i // len(PROJECTS)) if i >= len(PROJECTS) else "")
        for i in range(n_projects)
    )
    world = World({}, projects)
    by_place: dict[tuple[str, str, str], list[Component]] = {}  # (project, env, type)
    latest = int(days * DAY * 0.9)
    for plan in _plan_services(rng, n, projects):
        base = _creation_day(rng, plan, days) * DAY
        weight = float(rng.lognormal(0.0, 0.5)) * SPECS[plan.type].change_weight
        shape_seed = int(rng.integers(2**31))
        wanted = {t: bool(rng.random() < prob) for t, prob in SPECS[plan.type].deps}
        for env in plan.envs:
            offset = {"dev": 0, "staging": int(rng.integers(0, 4)), "prod": int(rng.integers(1, 11))}
            created = base + offset[env] * DAY + time_of_day(rng, weekend=False, off_hours_share=0)
            refs = []
            for producer_type, prob in SPECS[plan.type].deps:
                pool = by_place.get((plan.project, env, producer_type), [])
                if not pool and prob >= 1.0:  # a required link may cross projects, never envs
                    pool = [
                        c for (_, e, t), cs in by_place.items() if (e, t) == (env, producer_type) for c in cs
                    ]
                if pool and wanted[producer_type]:
                    producer = pool[int(rng.integers(len(pool)))]
                    refs.append((producer_type, producer.nickname))
                    created = max(created, producer.created_at + int(rng.integers(1, 7)) * HOUR)
            created = min(created, latest)
            suffixes = ["-a", "-b"] if plan.pair and env == "prod" else [""]
            alias = f"{plan.type}/{plan.service}-{env}" if len(suffixes) == 2 else None
            keys = []
            for suffix in suffixes:
                nick = f"{plan.service}-{env}{suffix}"
                comp = Component(
                    f"{plan.type}/{nick}", plan.type, nick, plan.service, env, plan.project,
                    f"{plan.project}-team", tuple(refs), created, weight * _ENV_WEIGHT[env],
                    shape_seed, alias,
                )  # fmt: skip
                world.components[comp.key] = comp
                by_place.setdefault((plan.project, env, plan.type), []).append(comp)
                keys.append(comp.key)
            world.instances[(f"{plan.type}/{plan.service}", env)] = keys
            if alias:
                world.aliases[alias] = (keys[0], keys[1])
    return world
