"""Karma's event envelope, and the ids that tie events together."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from karma_pipelines.simulator.clock import Clock
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
    """Collects events in Karma's envelope; `events` is in emission order, not time order."""

    def __init__(self, clock: Clock, seed: int) -> None:
        self.clock = clock
        self.seed = seed
        self.events: list[Event] = []

    def emit(
        self,
        t: int,
        event_type: str,
        comp: Component,
        correlation_id: str,
        attrs: dict[str, Any],
        source: str,
    ) -> None:
        n = len(self.events)
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
        self.events.append(Event(int(t), n, body))

    def in_time_order(self) -> list[Event]:
        return sorted(self.events)
