"""Results computed once per config object (configs are never mutated once built).

Every cache keeps its latest results; the configs a world currently holds (`pin`, one per component,
`WorldState.set_config`) keep theirs until they are replaced, however large the world.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson

from karma_pipelines.contracts.config_diff import ConfigDiff, matched_lines
from karma_pipelines.contracts.config_fields import flatten
from karma_pipelines.contracts.dependencies import references

_MISSING = object()
_PINNED: dict[int, list[Any]] = {}  # id -> [object, pin count]
_CACHES: list[IdentityCache] = []


class IdentityCache:
    """Memoises `fn(obj, *args)` by the identity of `obj`: for the most recent `size` calls, and for
    as long as `obj` is pinned."""

    def __init__(self, fn: Callable[..., Any], size: int = 4096) -> None:
        self.fn, self.size = fn, size
        self._hits: dict[tuple[int, tuple[Any, ...]], tuple[Any, Any]] = {}
        self._order: deque[tuple[int, tuple[Any, ...]]] = deque()  # keys of `_hits`, oldest first
        self._kept: dict[int, dict[tuple[Any, ...], Any]] = {}  # a pinned object's results
        _CACHES.append(self)

    def __call__(self, obj: Any, *args: Any) -> Any:
        oid = id(obj)
        kept = self._kept.get(oid)  # only while pinned: its id cannot be reused meanwhile
        if kept is not None:
            value = kept.get(args, _MISSING)
            if value is _MISSING:
                value = kept[args] = self.fn(obj, *args)
            return value
        key = (oid, args)
        hit = self._hits.get(key)
        if hit is not None and hit[0] is obj:  # holding `obj` keeps its id from being reused
            return hit[1]
        value = self.fn(obj, *args)
        pinned = _PINNED.get(oid)
        if pinned is not None and pinned[0] is obj:
            self._kept[oid] = {args: value}
            return value
        self._hits[key] = (obj, value)
        self._order.append(key)
        if len(self._order) > self.size:  # the oldest goes (a dict's first key is slow to find)
            self._hits.pop(self._order.popleft(), None)  # (a key reused by a new object: twice)
        return value


def pin(obj: Any) -> None:
    """Keep `obj`'s results in every cache until it is unpinned (as often as pinned)."""
    entry = _PINNED.get(id(obj))
    if entry is not None and entry[0] is obj:
        entry[1] += 1
    else:
        _PINNED[id(obj)] = [obj, 1]


def unpin(obj: Any) -> None:
    entry = _PINNED.get(id(obj))
    if entry is None or entry[0] is not obj:
        return
    entry[1] -= 1
    if entry[1] == 0:
        del _PINNED[id(obj)]
        for cache in _CACHES:
            cache._kept.pop(id(obj), None)


@contextmanager
def pinned() -> Iterator[None]:
    """Within: a simulation pins its configs; on leaving, every pin is forgotten."""
    try:
        yield
    finally:
        _PINNED.clear()
        for cache in _CACHES:
            cache._kept.clear()


def _lines(config: dict | None) -> list[bytes]:
    """The lines of `canonical_json(config)` up to a one-to-one change of each line's text (strings
    unescaped, small floats written `0.00001`): all that a line diff's counts depend on."""
    if not config:
        return []
    try:
        text = orjson.dumps(config, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    except TypeError:  # not plain JSON: as canonical_json writes it (default=str), unescaped
        text = json.dumps(config, indent=2, sort_keys=True, default=str, ensure_ascii=False).encode()
    return text.split(b"\n")


flat_of = IdentityCache(flatten)  # read-only: copy before editing
references_of = IdentityCache(lambda config: references(config, flat_of(config)))
lines_of = IdentityCache(_lines)


class LazyDiff:
    """Exactly `diff_configs(before, after)`, computed as far as it is read: the changed fields from
    each config's (cached) flattening, the line counts only when asked for (a deploy's `after` is the
    next deploy's `before`)."""

    def __init__(self, before: dict | None, after: dict | None) -> None:
        self.before, self.after = before, after
        old, new = flat_of(before or {}), flat_of(after or {})
        self.added = sorted(set(new) - set(old))
        self.removed = sorted(set(old) - set(new))
        self.changed = sorted(p for p in set(old) & set(new) if old[p] != new[p])
        self._lines: tuple[int, int] | None = None

    def _line_counts(self) -> tuple[int, int]:
        if self._lines is None:
            a, b = lines_of(self.before), lines_of(self.after)
            # a unified diff (n=0) lists every line outside the matching blocks (no line of a
            # config's JSON starts with `+` or `-`, so none is taken for a header)
            same = matched_lines(a, b)
            self._lines = (len(b) - same, len(a) - same)
        return self._lines

    @property
    def lines_added(self) -> int:
        return self._line_counts()[0]

    @property
    def lines_removed(self) -> int:
        return self._line_counts()[1]

    def resolved(self) -> ConfigDiff:
        """The same diff as a `ConfigDiff`, every field computed."""
        return ConfigDiff(list(self.added), list(self.removed), list(self.changed), *self._line_counts())


def diff_of(before: dict | None, after: dict | None) -> LazyDiff:
    """`diff_configs(before, after)`, lazily (`LazyDiff`)."""
    return LazyDiff(before, after)
