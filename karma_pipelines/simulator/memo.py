"""Results computed once per config object (configs are never mutated once built)."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

from karma_pipelines.contracts.config_fields import ConfigDiff, canonical_json, diff_configs, flatten
from karma_pipelines.contracts.dependencies import references


class IdentityCache:
    """Memoises `fn(obj, *args)` by the identity of `obj`, for the most recent `size` calls."""

    def __init__(self, fn: Callable[..., Any], size: int = 4096) -> None:
        self.fn, self.size = fn, size
        self._hits: dict[tuple[int, tuple[Any, ...]], tuple[Any, Any]] = {}

    def __call__(self, obj: Any, *args: Any) -> Any:
        key = (id(obj), args)
        hit = self._hits.get(key)
        if hit is not None and hit[0] is obj:  # holding `obj` keeps its id from being reused
            return hit[1]
        value = self.fn(obj, *args)
        self._hits[key] = (obj, value)
        if len(self._hits) > self.size:
            del self._hits[next(iter(self._hits))]
        return value


flat_of = IdentityCache(flatten)  # read-only: copy before editing
references_of = IdentityCache(references)
lines_of = IdentityCache(lambda config: canonical_json(config).splitlines() if config else [])


def diff_of(before: dict | None, after: dict | None) -> ConfigDiff:
    """Exactly `diff_configs(before, after)`, reusing each config's flattening and JSON lines
    (a deploy's `after` is the next deploy's `before`)."""
    if before is None or after is None:
        return diff_configs(before, after)
    old, new = flat_of(before), flat_of(after)
    added = sorted(set(new) - set(old))
    removed = sorted(set(old) - set(new))
    changed = sorted(p for p in set(old) & set(new) if old[p] != new[p])
    plus = minus = 0
    for line in difflib.unified_diff(lines_of(before), lines_of(after), lineterm="", n=0):
        if line.startswith("+") and not line.startswith("+++"):
            plus += 1
        elif line.startswith("-") and not line.startswith("---"):
            minus += 1
    return ConfigDiff(added, removed, changed, plus, minus)
