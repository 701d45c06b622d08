"""Imperfections of a real event log: lines that arrive late, and malformed lines (each one
fails validation in exactly the way its kind says)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson

from karma_pipelines.contracts.schema import DEPLOY_EVENT_TYPES
from karma_pipelines.simulator.clock import DAY, Clock
from karma_pipelines.simulator.events import idempotency_key
from karma_pipelines.simulator.fields import pick

KINDS = (
    "not_json", "missing_ts", "missing_event_type", "missing_idempotency_key", "bad_ts_type",
    "unparseable_ts", "future_ts", "unknown_entity", "unknown_event_type", "attrs_not_object",
    "duplicate",
)  # fmt: skip
MALFORMED_SHARE = 0.01
LATE_SHARE = 0.005
BAD_TIMESTAMPS = ("2026-13-45T99:00:00Z", "yesterday 10am", "2026-02-30T12:00:00Z", "T+3h", "05/32/2026")
UNKNOWN_TYPES = ("deploy.applied", "change.approved", "heartbeat", "action.started")
GARBAGE = (
    "<html><body>502 Bad Gateway</body></html>",
    'level=error msg="event sink unavailable" retry=3',
    "}{",
)


def dumps(body: dict[str, Any]) -> str:
    """`json.dumps(body, separators=(",", ":"), ensure_ascii=False)`, by orjson: the same text for
    the strings, integers, booleans, lists and objects of an event (a float under 1e-4 would be
    written without an exponent)."""
    try:
        return orjson.dumps(body).decode()
    except TypeError:  # not plain JSON (an integer over 64 bits, a key not a string)
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def late_moves(rng: np.random.Generator, n: int) -> list[tuple[int, int]]:
    """For a file of `n` lines: a few (from, to) moves, each a line a little later within the file
    (valid events, out of time order); `move_late` applies them."""
    k = int(rng.binomial(n, LATE_SHARE)) if n > 3 else 0
    return [
        (i, min(n - 1, i + int(rng.integers(2, 41))))
        for i in (sorted(int(i) for i in rng.choice(n, k, replace=False)) if k else [])
    ]


def move_late(lines: list[str], moves: list[tuple[int, int]]) -> list[str]:
    """`lines` with the `late_moves` made, in turn."""
    lines = list(lines)
    for i, j in moves:
        lines.insert(j, lines.pop(i))
    return lines


def _variant(rng: np.random.Generator, kind: str, body: dict[str, Any], clock: Clock, key: str) -> str:
    """A malformed line made from a real event `body` (a copy; the real event is unchanged)."""
    bad = json.loads(dumps(body))
    bad["idempotency_key"] = key  # a new event, not a re-delivery
    if kind == "not_json":
        if rng.random() < 0.3:
            return pick(rng, GARBAGE)
        text = dumps(bad)
        return text[: int(rng.integers(10, len(text) - 1))]
    if kind in ("missing_ts", "missing_event_type", "missing_idempotency_key"):
        del bad[kind.removeprefix("missing_")]
    elif kind == "bad_ts_type":
        start = int(clock.start.timestamp())
        bad["ts"] = int(rng.integers(start, start + clock.end))  # epoch seconds: a number
    elif kind == "unparseable_ts":
        bad["ts"] = pick(rng, BAD_TIMESTAMPS)
    elif kind == "future_ts":
        bad["ts"] = clock.iso(clock.end + int(rng.integers(DAY, 60 * DAY)))
    elif kind == "unknown_entity":
        comp_type, _, nick = str(bad.get("entity_id", "vpc/x-dev")).partition("/")
        ghost = f"{comp_type}/ghost-{nick.rsplit('-', 1)[0]}-{int(rng.integers(10, 99))}"
        bad["entity_id"] = ghost
        if "component" in bad["attrs"]:
            bad["attrs"]["component"] = ghost
    elif kind == "unknown_event_type":
        bad["event_type"] = pick(rng, UNKNOWN_TYPES)
    elif kind == "attrs_not_object":
        bad["attrs"] = [bad["attrs"]] if rng.random() < 0.5 else dumps(bad["attrs"])
    return dumps(bad)


def _template(rng: np.random.Generator, real: list[str]) -> dict[str, Any]:
    """A real event to make a malformed line from; not a deploy, where the file has others."""
    for _ in range(8):
        body = json.loads(pick(rng, real))
        if body["event_type"] not in DEPLOY_EVENT_TYPES:
            break
    return body


def plant(
    rng: np.random.Generator, name: str, real: list[str], clock: Clock, seed: int, n_made: int
) -> tuple[list[str], list[tuple[str, int, str]], int]:
    """Insert malformed lines (about 1% of the lines) between the real ones of file `name`; the
    files of a world are planted in name order, `n_made` counting the new lines made so far.

    Returns the file's new lines, (file, 1-based line, kind) for every line planted, and `n_made`.
    """
    planted: list[tuple[str, int, str]] = []
    n_bad = int(rng.binomial(len(real), MALFORMED_SHARE))
    inserts: list[tuple[int, int, str, str]] = []  # (position, order, kind, line)
    for order in range(n_bad):
        kind = pick(rng, KINDS)
        if kind == "duplicate":
            pos = int(rng.integers(1, len(real) + 1))
            line = real[int(rng.integers(0, pos))]  # an earlier real line, re-delivered
        else:
            pos = int(rng.integers(0, len(real) + 1))
            n_made += 1
            key = idempotency_key(seed, n_made, salt="malformed")
            line = _variant(rng, kind, _template(rng, real), clock, key)
        inserts.append((pos, order, kind, line))
    merged: list[str] = []
    inserts.sort()
    k = 0
    for i in range(len(real) + 1):
        while k < len(inserts) and inserts[k][0] == i:
            merged.append(inserts[k][3])
            planted.append((name, len(merged), inserts[k][2]))
            k += 1
        if i < len(real):
            merged.append(real[i])
    return merged, planted, n_made
