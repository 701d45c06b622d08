"""The shape of field paths: maps whose keys are names chosen by users (lambda `functions.<name>.*`),
and the pattern (`functions.*.runtime`) a concrete path is an instance of."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass


def parent_of(path: str) -> str:
    return path.rpartition(".")[0]


def depth(path: str) -> int:
    return path.count(".") + 1


def map_parents(paths: Iterable[str], min_shared: int = 2) -> frozenset[str]:
    """Concrete prefixes whose child keys are user-chosen names: two keys under the prefix share at
    least `min_shared` sub-paths (`functions.api.runtime` and `functions.cron.runtime`, and `handler`).

    Leaves are never map keys here (an env-var block is a bag of fields, not a map of objects).
    """
    keys: dict[tuple[str, str], set[str]] = defaultdict(set)
    for path in set(paths):
        segments = path.split(".")
        for j in range(1, len(segments) - 1):
            keys[(".".join(segments[:j]), ".".join(segments[j + 1 :]))].add(segments[j])
    shared: dict[str, int] = defaultdict(int)
    for (prefix, _), found in keys.items():
        if len(found) >= 2:
            shared[prefix] += 1
    return frozenset(p for p, n in shared.items() if n >= min_shared)


@dataclass(frozen=True)
class MapChild:
    """`functions.api.runtime` under map parent `functions`: instance `functions.api`, suffix `runtime`."""

    parent: str
    instance: str
    suffix: str

    @property
    def pattern(self) -> str:
        return f"{self.parent}.*.{self.suffix}"


def map_child(path: str, parents: frozenset[str]) -> MapChild | None:
    """The outermost map the path is inside of, or None."""
    if not parents:
        return None
    segments = path.split(".")
    for j in range(1, len(segments) - 1):
        prefix = ".".join(segments[:j])
        if prefix in parents:
            return MapChild(prefix, f"{prefix}.{segments[j]}", ".".join(segments[j + 1 :]))
    return None


def path_matches(pattern: str, path: str) -> bool:
    """Segment-wise match where `*` in the pattern is any one segment."""
    p, q = pattern.split("."), path.split(".")
    return len(p) == len(q) and all(a == "*" or a == b for a, b in zip(p, q, strict=True))


def covers(read: str, path: str) -> bool:
    """Does reading `read` read `path`? Exactly, as a whole subtree (`container` covers
    `container.image`), or inside a value that the config holds as one leaf (a list)."""
    r, q = read.split("."), path.split(".")
    n = min(len(r), len(q))
    return all(a == "*" or a == b for a, b in zip(r[:n], q[:n], strict=True))
