"""Field names: misspellings (the one `misspell`, shared with the simulator: to inject as negatives and
in evaluation) and finding the common field a rare name is probably a misspelling of."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import numpy as np

from karma_pipelines.simulator.fields import misspell
from karma_pipelines.suggester.structure import parent_of

__all__ = ["NearNames", "misspell", "osa_distance", "recombine", "same_parent"]


def recombine(rng: np.random.Generator, names: list[str]) -> str | None:
    """A plausible field name nobody uses: the head of one known name's last segment joined to the tail
    of another's (`log_retention_days` + `desired_count` -> `log_count`), under the first's parent."""
    a, b = names[int(rng.integers(len(names)))], names[int(rng.integers(len(names)))]
    parent, _, left = a.rpartition(".")
    right = b.rpartition(".")[2]
    ta, tb = left.split("_"), right.split("_")
    if len(ta) < 2 and len(tb) < 2:
        return None
    head = ta[: int(rng.integers(1, len(ta) + 1))] if len(ta) > 1 else ta
    tail = tb[int(rng.integers(0, len(tb))) :] if len(tb) > 1 else tb
    name = "_".join(head + tail)
    if name in (left, right):
        return None
    return f"{parent}.{name}" if parent else name


def osa_distance(a: str, b: str) -> int:
    """Optimal string alignment distance (edits: insert, delete, substitute, swap adjacent)."""
    if a == b:
        return 0
    la, lb = len(a), len(b)
    prev2: list[int] = []
    prev = list(range(lb + 1))
    for i in range(1, la + 1):
        cur = [i] + [0] * lb
        for j in range(1, lb + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[lb]


def _deletes(word: str) -> set[str]:
    return {word} | {word[:i] + word[i + 1 :] for i in range(len(word))}


class NearNames:
    """Common field paths indexed by one-deletion variants of their last segment (symmetric delete),
    to find, for a rare path, a common path one edit away under the same parent."""

    def __init__(self, common: Iterable[str]):
        self.index: dict[tuple[str, str], set[str]] = defaultdict(set)
        for path in common:
            parent, _, name = path.rpartition(".")
            for variant in _deletes(name):
                self.index[(parent, variant)].add(path)

    def nearest(self, path: str) -> str | None:
        """A common path at OSA distance 1 from `path` (same parent), or None; ties: alphabetical."""
        parent, _, name = path.rpartition(".")
        found: set[str] = set()
        for variant in _deletes(name):
            found |= self.index.get((parent, variant), set())
        found.discard(path)
        hits = sorted(p for p in found if osa_distance(p.rpartition(".")[2], name) == 1)
        return hits[0] if hits else None


def same_parent(a: str, b: str) -> bool:
    return parent_of(a) == parent_of(b)
