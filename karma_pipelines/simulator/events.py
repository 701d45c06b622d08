"""Karma's event envelope, and the ids that tie events together."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from karma_pipelines.simulator.clock import DAY, Clock
from karma_pipelines.simulator.world import Component


@dataclass(order=True)
class Event:
    t: int  # seconds since the world's start
    seq: int  # emission order: breaks ties so that causes come before effects
    body: dict[str, Any] = field(compare=False)


class Ids:
    """Sequential, zero-padded ids: `chg-000001`, `dep-000001`, `drf-000001`."""

    def __init__(self) -> None:
        self._next: dict[str, int] = {}

    def new(self, prefix: str) -> str:
        n = self._next.get(prefix, 0) + 1
        self._next[prefix] = n
        return f"{prefix}-{n:06d}"


def idempotency_key(seed: int, n: int, salt: str = "evt") -> str:
    return hashlib.blake2b(f"{salt}:{seed}:{n}".encode(), digest_size=12).hexdigest()


class EventLog:
    """Collects events in Karma's envelope, one UTC day at a time.

    Events are emitted in processing order, never before the moment being processed (`History.run`
    processes its queue in time order): once the simulation reaches a day, every earlier day is
    complete, and `flush_before` hands each such day's events, in time order, to `sink(day, events)`
    and forgets them. Without a sink the events are kept (`in_time_order`).
    """

    def __init__(self, clock: Clock, seed: int, sink: Callable[[int, list[Event]], None] | None = None):
        self.clock = clock
        self.seed = seed
        self.sink = sink
        self.emitted = 0
        self._days: dict[int, list[Event]] = {}
        self._flushed = 0  # days before this one have gone to the sink

    def emit(
        self,
        t: int,
        event_type: str,
        comp: Component,
        correlation_id: str,
        attrs: dict[str, Any],
        source: str,
    ) -> None:
        n = self.emitted
        self.emitted = n + 1
        t = int(t)
        day = t // DAY
        if day < self._flushed:
            raise AssertionError(f"{event_type} at {self.clock.iso(t)}: its day was already written")
        body = {
            "ts": self.clock.iso(t),
            "event_type": event_type,
            "entity_id": comp.key,
            "correlation_id": correlation_id,
            "tags": {"Project": comp.project, "Environment": comp.env, "Owner": comp.owner},
            "attrs": attrs,
            "idempotency_key": idempotency_key(self.seed, n),
            "source": source,
        }
        events = self._days.get(day)
        if events is None:
            events = self._days[day] = []
        events.append(Event(t, n, body))

    def flush_before(self, t: int) -> None:
        """Every day before the one of `t` is complete: hand it to the sink (if there is one)."""
        day = int(t) // DAY
        if self.sink is not None:
            for d in sorted(d for d in self._days if d < day):
                self.sink(d, sorted(self._days.pop(d), key=_order))
        self._flushed = max(self._flushed, day)

    def close(self) -> None:
        """The simulation is over: every day is complete."""
        if self._days:
            self.flush_before((max(self._days) + 1) * DAY)

    def in_time_order(self) -> list[Event]:
        """The events kept (those of days not handed to a sink), in time order."""
        return sorted((e for day in self._days.values() for e in day), key=_order)


def _order(event: Event) -> tuple[int, int]:
    return event.t, event.seq
