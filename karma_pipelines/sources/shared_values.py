"""One object for equal decoded JSON values, so that a long event log holds each distinct value once.

A component's config changes one or two fields per deploy: the next deploy's line decodes to a new copy of
every unchanged section (`container`, `load_balancer`, `tags`, …), and a world of a million deploys holds
millions of equal copies. `SharedValues.share` returns, for a decoded value, the one object equal to it
that it has seen (hash-consing): objects and arrays by their items, whose values are shared first; strings
by their text. Equal means the same JSON: `true` is not `1`, `-0.0` is not `0.0`, and key order counts.

`SharedValues.redacted` is the same for a value's redacted copy (`redact`), by the value's JSON text: each
distinct section of the log is redacted once, not once per line that repeats it, and a section met again
costs its text (made by orjson) and a look-up, whatever its size.

Nothing may change a shared value in place (no reader of `karma_events` does). The table is bounded: past
`MAX_ENTRIES` it starts again empty. A key names its children by `id`; the value it maps to holds those
children, so none of them dies (and gives its id away) while the key is in the table.
"""

from __future__ import annotations

from typing import Any

import orjson

from karma_pipelines.contracts.redaction import is_secret_field, redact, redact_text

MAX_ENTRIES = 500_000
MAX_DEPTH = 32  # deeper values are returned as they are (the suite quarantines lines nested past 64)
_SCALARS = (int, bool, type(None))


class SharedValues:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._table: dict[tuple, Any] = {}
        self._strings: dict[str, str] = {}
        self._redacted: dict[tuple[bytes, bool], Any] = {}
        self._max = max_entries

    def share(self, value: Any, depth: int = 0, root: bool = False) -> Any:
        """The one object equal to `value` (`value` itself the first time); with `root`, a new object
        of shared items (a value that never repeats, such as a line's `attrs` with its deploy id)."""
        kind = type(value)
        if kind is str:
            return self._string(value)
        if kind is not dict and kind is not list:
            return value
        if depth >= MAX_DEPTH:
            return value
        if kind is dict:
            items = [
                (self._string(k) if type(k) is str else k, self.share(v, depth + 1)) for k, v in value.items()
            ]
            if root:
                return dict(items)
            key = (dict, tuple((k, *_part(v)) for k, v in items))
            found = self._table.get(key)
            if found is None:
                found = self._keep(key, dict(items))
        else:
            items = [self.share(v, depth + 1) for v in value]
            key = (list, tuple(_part(v) for v in items))
            found = self._table.get(key)
            if found is None:
                found = self._keep(key, items)
        return found

    def redacted(self, value: Any, key: str = "", depth: int = 0) -> Any:
        """`redact(value, key, depth)` of a value as orjson decodes it (no NaN, no integer past 64 bits),
        one object per distinct section text: a section whose JSON text was seen before is not walked
        again, one that was not is redacted with its own sections looked up so (`redact`'s `_child`)."""
        kind = type(value)
        if kind is str:
            return self._string(redact_text(value))
        if kind is not dict and kind is not list:
            return value
        if depth >= MAX_DEPTH:
            return redact(value, key, depth)
        # An array's redaction depends on its name too: under a secret-named field every item is secret.
        memo = (orjson.dumps(value), kind is list and is_secret_field(key))
        found = self._redacted.get(memo)
        if found is None:
            found = redact(value, key, depth, _child=self.redacted)
            if len(self._redacted) >= self._max:
                self._redacted.clear()
            self._redacted[memo] = found
        return found

    def _string(self, text: str) -> str:
        found = self._strings.get(text)
        if found is None:
            if len(self._strings) >= self._max:
                self._strings.clear()
            found = self._strings[text] = text
        return found

    def _keep(self, key: tuple, value: Any) -> Any:
        if len(self._table) >= self._max:
            self._table.clear()
        self._table[key] = value  # the key names children by id; `value` holds them, so no id is reused
        return value

    def __len__(self) -> int:
        return len(self._table) + len(self._redacted)


def _part(value: Any) -> tuple:
    """A shared child as part of its parent's key: containers by identity (already shared), scalars by
    type and value (floats by their exact bits: `-0.0` and `0.0` are equal numbers but not the same JSON)."""
    kind = type(value)
    if kind is dict or kind is list:
        return (kind, id(value))
    if kind is float:
        return (float, value.hex())
    if kind is str or kind in _SCALARS:
        return (kind, value)
    return (kind, id(value))
