"""The deploy process: changes requested, deployed, promoted, rolled back, drifting; in time order."""

from __future__ import annotations

import heapq
from typing import Any

import numpy as np

from karma_pipelines.contracts.config_fields import flatten
from karma_pipelines.simulator import notices
from karma_pipelines.simulator.catalog import missing_fields
from karma_pipelines.simulator.changes import Proposal, propose_create, propose_update
from karma_pipelines.simulator.clock import DAY, HOUR, MINUTE, Clock, during_work, time_of_day
from karma_pipelines.simulator.edits import apply_change, change_between, localize
from karma_pipelines.simulator.events import EventLog, Ids
from karma_pipelines.simulator.fields import choose, cumulative, pick
from karma_pipelines.simulator.memo import diff_of
from karma_pipelines.simulator.people import UserPicker
from karma_pipelines.simulator.risk import (
    NOVICE_DEPLOYS,
    ROLLBACK_REASONS,
    DeployFacts,
    active_causes,
    failure_probability,
    rollback_delay,
    rollback_probability,
)
from karma_pipelines.simulator.spool import DeploySpool
from karma_pipelines.simulator.state import DeployRecord, WorldState
from karma_pipelines.simulator.twins import drift_factor, unhealthy_p
from karma_pipelines.simulator.world import Component, World

CHANGE_RATE = 0.55  # changes per weekday per unit of component weight
WEEKEND_FACTOR = 0.12
NEXT_ENV = {"dev": "staging", "staging": "prod"}
P_PROMOTE = {"dev": 0.45, "staging": 0.5}
DRIFTS_PER_DAY = 0.02  # per staging/prod component


class History:
    """An event-driven simulation: a queue of what happens next, processed in time order."""

    def __init__(
        self, rng: np.random.Generator, world: World, clock: Clock, log: EventLog, truth: DeploySpool
    ) -> None:
        self.rng, self.world, self.clock, self.log, self.truth = rng, world, clock, log, truth
        self.comps = world.components
        self.state = WorldState(world)
        self.ids = Ids()
        self.picker = UserPicker(world.users)
        self.queue: list[tuple[int, int, str, tuple[Any, ...]]] = []
        self._pushed = 0  # ties in time are processed in the order they were scheduled
        self.records: list[DeployRecord] = []  # kept for the promotion habits only (memory)
        self.deploys = 0
        self.rollbacks = 0
        self.active = {alias: pair[0] for alias, pair in world.aliases.items()}
        self.habits = None  # promotion habits, a world option (simulator/promotion_habits.py)

    def push(self, t: int, kind: str, *payload: Any) -> None:
        if t < self.clock.end:
            self._pushed += 1
            heapq.heappush(self.queue, (int(t), self._pushed, kind, payload))

    def run(self) -> None:
        self._plan()
        next_day = 0
        while self.queue:
            t, _, kind, payload = heapq.heappop(self.queue)
            if t >= next_day:  # every earlier day is complete: its events go to disk
                self.log.flush_before(t)
                next_day = (t // DAY + 1) * DAY
            getattr(self, f"_on_{kind}")(t, *payload)
        self.log.close()

    def _on_call(self, t: int, step, *args: Any) -> None:
        """A step that an add-on module scheduled (`graph_plants`): `step(self, t, *args)`."""
        step(self, t, *args)

    def _plan(self) -> None:
        rng, comps = self.rng, list(self.comps.values())
        created = np.array([c.created_at for c in comps])
        weights = np.array([c.weight for c in comps])
        for c in comps:
            self.push(c.created_at, "change", c.key)
        by_creation = np.sort(created)
        alive, idx, cdf = 0, created[:0], created[:0]  # the components created before t, their weights
        for day in range(self.clock.days):
            weekend = self.clock.is_weekend(day * DAY)
            existing = weights[created < (day + 1) * DAY].sum()
            n = int(rng.poisson(CHANGE_RATE * existing * (WEEKEND_FACTOR if weekend else 1.0)))
            for t in sorted(day * DAY + time_of_day(rng, weekend) for _ in range(n)):
                k = int(np.searchsorted(by_creation, t))  # components created before t (t only grows)
                if k != alive:
                    alive, idx = k, np.flatnonzero(created < t)
                    w = weights[idx]
                    cdf = cumulative(w / w.sum())
                if alive:
                    self.push(t, "change", comps[int(idx[choose(rng, cdf)])].key)
        for c in comps:
            if c.env != "dev":
                span = self.clock.end - c.created_at
                rate = DRIFTS_PER_DAY * (drift_factor(self.world, c.key) if self.world.unhealthy else 1)
                for _ in range(int(rng.poisson(rate * span / DAY))):
                    self.push(c.created_at + int(rng.integers(HOUR, max(2 * HOUR, span))), "drift", c.key)

    # -- changes and deploys --------------------------------------------------------------
    def _on_change(self, t: int, key: str) -> None:
        rng, st, c = self.rng, self.state, self.comps[key]
        busy = st.locked(key, t)
        if busy is not None:  # a rollback (or an apply) is pending: the engineer waits
            self.push(busy + int(rng.integers(10 * MINUTE, 3 * HOUR)), "change", key)
            return
        user = self.picker.pick(rng, t, c.project)
        current = st.configs.get(key)
        if current is None:
            prop, action = propose_create(rng, c, st.last_config.get(key)), "create"
        else:
            novice = st.author_deploys[user.handle] < NOVICE_DEPLOYS
            prop, action = propose_update(rng, c, current, novice), "update"
        queued = rng.random() < 0.07
        delay = rng.integers(20 * MINUTE, 2 * HOUR) if queued else rng.integers(MINUTE, 15 * MINUTE)
        td = t + int(delay)
        if td + 10 * MINUTE >= self.clock.end:
            return
        change_id = self.ids.new("chg")
        st.last_change[key] = change_id
        notices.request(self.log, t, c, change_id, prop, user.handle, user.source)
        t_result = t + int(rng.integers(2, 60))
        if action == "update" and rng.random() < 0.03:
            notices.result(self.log, t_result, c, change_id, prop, [], "rejected", user.source)
            return
        affected = st.affected(key)
        notices.result(
            self.log, t_result, c, change_id, prop, affected, "queued" if queued else "applied", user.source
        )
        st.lock(key, td + 1)
        self.push(td, "deploy", key, prop, action, user.handle, change_id, user.source, affected)

    def _on_promote(self, t: int, src: DeployRecord, targets: tuple[str, ...]) -> None:
        rng, st = self.rng, self.state
        if src.rollback_at is not None and src.rollback_at <= t:
            return  # rolled back before anyone promoted it
        key = targets[0]
        if len(targets) == 2:  # blue/green: deploy to the idle one, then switch over
            alias = self.comps[key].alias
            key = targets[1] if self.active.get(alias) == targets[0] else targets[0]
        busy = st.locked(key, t)
        if busy is not None:
            self.push(busy + int(rng.integers(30 * MINUTE, 4 * HOUR)), "promote", src, targets)
            return
        current, target = st.configs.get(key), self.comps[key]
        if current is None:
            return
        new = apply_change(current, localize(src.change, src.before, target, current))
        if new == current:
            return
        source_env = self.comps[src.component].env
        message = f"promote {src.deploy_id} from {source_env}: {src.message}"
        prop = Proposal(new, change_between(current, new), "promote", message)
        user = src.author if rng.random() < 0.7 else self.picker.pick(rng, t, target.project).handle
        td = t + int(rng.integers(2 * MINUTE, 20 * MINUTE))
        if td + 10 * MINUTE >= self.clock.end:
            return
        change_id = self.ids.new("chg")
        st.last_change[key] = change_id
        notices.request(self.log, t, target, change_id, prop, user, "ci")
        affected = st.affected(key)
        notices.result(
            self.log, t + int(rng.integers(2, 60)), target, change_id, prop, affected, "applied", "ci"
        )
        deploy_id = self.ids.new("dep")
        attrs = {"from_environment": source_env, "to_environment": target.env,
                 "from_deploy_id": src.deploy_id, "deploy_id": deploy_id}  # fmt: skip
        if self.habits is not None:
            attrs.update(self.habits.promotion_attrs(src))
        self.log.emit(td - 1, "promotion", target, change_id, attrs, "ci")
        st.lock(key, td + 1)
        self.push(
            td, "deploy", key, prop, "promote", user, change_id, "ci", affected, src.deploy_id, deploy_id
        )

    def _on_deploy(
        self, td: int, key: str, prop: Proposal, action: str, user: str, change_id: str,
        source: str, affected: list[str], promoted_from: str | None = None, deploy_id: str = "",
    ) -> None:  # fmt: skip
        """Apply a change; every fact behind its rollback probability is read at `td`."""
        rng, st, c = self.rng, self.state, self.comps[key]
        before = st.configs.get(key)
        facts = DeployFacts(
            action=action,
            environment=c.env,
            diff=diff_of(before, prop.config),
            n_affected=len(affected),
            upstream_deployed_24h=st.upstream_deployed_within(prop.config, td),
            author_prior_deploys=st.author_deploys[user],
            off_hours=self.clock.is_off_hours(td),
            weekend=self.clock.is_weekend(td),
            n_missing_fields=len(missing_fields(c.type, prop.config)),
        )
        causes = active_causes(facts)
        p = rollback_probability(causes)
        if self.habits is not None and action == "promote" and c.env == "prod":
            p, causes = self.habits.prod_deploy(deploy_id, key, td, promoted_from, affected, p, causes)
        if self.world.unhealthy:
            p = unhealthy_p(self.world, key, p)
        status = "failed" if rng.random() < failure_probability(p) else "succeeded"
        deploy_id = deploy_id or self.ids.new("dep")
        attrs = {"deploy_id": deploy_id, "component": key, "environment": c.env, "user": user,
                 "action": action, "status": status, "config": prop.config,
                 "change_id": change_id, "promoted_from": promoted_from}  # fmt: skip
        self.log.emit(td, "deploy.apply", c, change_id, attrs, source)
        notices.validate(self.log, rng, td, c, deploy_id, change_id, prop.config, action, source)
        for i, down in enumerate(affected):
            attrs = {"deploy_id": deploy_id, "cause": key}
            self.log.emit(td + 2 + i, "downstream.invalidated", self.comps[down], change_id, attrs, source)
        st.set_config(key, prop.config, deploy_id, td)
        st.author_deploys[user] += 1
        st.lock(key, td + 3 + len(affected))
        rec = DeployRecord(deploy_id, key, td, user, change_id, before, prop.config, prop.change,
                           action, prop.message, p, causes, status)  # fmt: skip
        if self.habits is not None:
            self.records.append(rec)
        self.deploys += 1
        if rng.random() < p:
            delay = rollback_delay(rng)
            t_back = td + (self.habits.restore_delay(deploy_id, delay) if self.habits else delay)
            if t_back < self.clock.end - MINUTE:
                rec.rollback_at = t_back
                st.lock(key, t_back + 1)
                self.push(t_back, "rollback", rec)
        self.truth.add(rec)
        self._follow_up(rec, c)

    def _follow_up(self, rec: DeployRecord, c: Component) -> None:
        """Promote a good change to the next environment; switch a blue/green alias over."""
        rng = self.rng
        if rec.status != "succeeded" or rec.action == "create":
            return
        nxt = NEXT_ENV.get(c.env)
        if nxt == "prod" and self.habits is not None:
            self.habits.plan(rec, self.world.targets(c, nxt))
        elif nxt and rng.random() < P_PROMOTE[c.env]:
            targets = self.world.targets(c, nxt)
            if targets:
                t = during_work(rng, self.clock, rec.t + int(rng.integers(2 * HOUR, 3 * DAY)))
                self.push(t, "promote", rec, tuple(targets))
        if c.alias and rec.action == "promote" and self.active[c.alias] != c.key:
            self.push(rec.t + int(rng.integers(HOUR, 8 * HOUR)), "switchover", rec)

    def _on_rollback(self, t: int, rec: DeployRecord) -> None:
        rng, st, c = self.rng, self.state, self.comps[rec.component]
        assert st.configs.get(c.key) is rec.after, "a deploy slipped in before its rollback"
        user = rec.author if rng.random() < 0.6 else self.picker.pick(rng, t, c.project).handle
        deploy_id = self.ids.new("dep")
        attrs = {"deploy_id": deploy_id, "rolls_back": rec.deploy_id, "component": c.key,
                 "environment": c.env, "user": user, "status": "succeeded", "config": rec.before,
                 "reason": pick(rng, ROLLBACK_REASONS)}  # fmt: skip
        self.log.emit(t, "deploy.rollback", c, rec.change_id, attrs, "cli")
        st.set_config(c.key, rec.before, deploy_id, t)
        self.rollbacks += 1

    def _on_switchover(self, t: int, rec: DeployRecord) -> None:
        c = self.comps[rec.component]
        previous = self.active[c.alias]
        if (rec.rollback_at is not None and rec.rollback_at <= t) or previous == c.key:
            return
        attrs = {"alias": c.alias, "from": previous, "to": c.key}
        self.log.emit(t, "switchover", c, rec.change_id, attrs, "ci")
        self.active[c.alias] = c.key

    def _on_habit(self, t: int, what: str, *payload: Any) -> None:
        self.habits.on(t, what, *payload)

    # -- drift ----------------------------------------------------------------------------
    def _on_drift(self, t: int, key: str) -> None:
        config = self.state.configs.get(key)
        if config is None:
            return
        paths = sorted(p for p in flatten(config) if not p.startswith("tags"))
        chosen = self.rng.choice(len(paths), min(len(paths), int(self.rng.integers(1, 4))), replace=False)
        fields = [paths[int(i)] for i in sorted(chosen)]
        drift_id = self.ids.new("drf")
        correlation = self.state.last_change.get(key, drift_id)
        attrs = {"drift_id": drift_id, "fields": fields}
        self.log.emit(t, "drift.detected", self.comps[key], correlation, attrs, "api")
        t_fix = t + int(self.rng.integers(HOUR, 5 * DAY))
        self.push(t_fix, "drift_resolved", key, correlation, dict(attrs))

    def _on_drift_resolved(self, t: int, key: str, correlation: str, attrs: dict) -> None:
        self.log.emit(t, "drift.resolved", self.comps[key], correlation, attrs, "api")
