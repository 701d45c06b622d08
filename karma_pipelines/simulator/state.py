"""What the world looks like at a moment of the simulation: configs, links, deploy history."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from karma_pipelines.simulator.catalog import mistakes
from karma_pipelines.simulator.clock import DAY
from karma_pipelines.simulator.memo import pin, references_of, unpin
from karma_pipelines.simulator.world import World

RECENT_DEPLOYS = 6  # a component's deploy times kept (`upstream_deployed_within` reads no more)


@dataclass
class DeployRecord:
    """A deploy.apply and what the simulator knows about it (the truth behind the log)."""

    deploy_id: str
    component: str
    t: int
    author: str
    change_id: str
    before: dict[str, Any] | None
    after: dict[str, Any]
    change: dict[str, Any]
    action: str
    message: str
    p_rollback: float
    causes: list[str]
    status: str
    rollback_at: int | None = None  # when its rollback happens (None: never, in this world)


@dataclass
class WorldState:
    world: World
    configs: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    last_config: dict[str, dict[str, Any]] = field(default_factory=dict)  # latest non-null
    upstream: dict[str, set[str]] = field(default_factory=dict)
    downstream: dict[str, set[str]] = field(default_factory=dict)
    deploy_times: dict[str, list[int]] = field(default_factory=dict)  # the latest RECENT_DEPLOYS
    author_deploys: Counter = field(default_factory=Counter)
    locked_until: dict[str, int] = field(default_factory=dict)
    last_change: dict[str, str] = field(default_factory=dict)
    introduced: dict[str, dict[tuple[str, str], str]] = field(default_factory=dict)

    def set_config(self, key: str, config: dict[str, Any] | None, deploy_id: str, t: int) -> None:
        """Record a deploy (or rollback) of `key` that leaves it with `config` (None: gone)."""
        previous = self.configs.get(key)
        self.configs[key] = config
        if config is not None:
            pin(config)  # read again at the component's next change and deploy
        if previous is not None:
            unpin(previous)
        times = self.deploy_times.setdefault(key, [])
        times.append(t)
        if len(times) > RECENT_DEPLOYS:
            del times[0]
        for producer in self.upstream.pop(key, set()):
            self.downstream.get(producer, set()).discard(key)
        if config is None:
            return
        self.last_config[key] = config
        refs = {r for r in references_of(config) if r in self.world.components and r != key}
        self.upstream[key] = refs
        for producer in refs:
            self.downstream.setdefault(producer, set()).add(key)
        before = self.introduced.get(key, {})
        now = mistakes(self.world.components[key].type, config)
        self.introduced[key] = {m: before.get(m, deploy_id) for m in sorted(now)}

    def affected(self, key: str) -> list[str]:
        """Components downstream of `key`, directly or transitively, sorted."""
        seen: set[str] = set()
        todo = [key]
        while todo:
            for consumer in self.downstream.get(todo.pop(), ()):
                if consumer not in seen and consumer != key:
                    seen.add(consumer)
                    todo.append(consumer)
        return sorted(seen)

    def upstream_deployed_within(self, config: dict[str, Any], t: int, window: int = DAY) -> bool:
        for producer in references_of(config):
            times = self.deploy_times.get(producer, [])
            if any(t - window <= x < t for x in times[-RECENT_DEPLOYS:]):
                return True
        return False

    def lock(self, key: str, until: int) -> None:
        self.locked_until[key] = max(self.locked_until.get(key, -1), until)

    def locked(self, key: str, t: int) -> int | None:
        """The time `key` is busy until, if that is after `t` (a pending rollback or apply)."""
        until = self.locked_until.get(key, -1)
        return until if until > t else None
