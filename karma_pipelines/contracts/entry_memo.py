"""Work on a config's entries done once per entry object, not once per version of the config.

A GitOps history changes the same big files again and again, one or two top-level entries at a time.
The YAML block cache (`sources/git/yaml_blocks.py`) hands every unchanged block of a file's next
version the very same object; `EntryMemo` keeps what was computed from such an object (its redacted
copy, its flattened field paths) by the object's identity, so a version costs its changed entries,
not its size. A memo holds each entry object it has seen, so that no other object can take its id.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from karma_pipelines.contracts.config_fields import flatten, parsed_compact_json

MAX_ENTRIES = 400_000  # entries held; the memo starts again empty past this
MAX_PATHS = 5_000  # a flattened entry with more paths is not kept (a whole file that changed)
MAX_TEXT = 64 << 10  # an entry's JSON text longer than this is not kept
_COMPACT = (",", ":")
# Levels of entries memoised: the config's, its entries' (a config keyed by file: the files' entries)
# and theirs (the items of a file's top-level list, such as govuk's `govukApplications`).
MEMO_DEPTH = 3


class EntryMemo:
    """Results computed from entry objects, by `(name, id(entry))`."""

    def __init__(self) -> None:
        self._memo: dict[tuple[Any, int], tuple[Any, Any]] = {}

    def get(
        self, name: Any, entry: Any, compute: Callable[[], Any], keep: Callable[[Any], bool] | None = None
    ) -> Any:
        """`compute()`'s result for this entry object, made once (`keep`: whether a result is held)."""
        found = self._memo.get((name, id(entry)))
        if found is not None and found[0] is entry:
            return found[1]
        result = compute()
        if keep is None or keep(result):
            if len(self._memo) >= MAX_ENTRIES:
                self._memo.clear()
            self._memo[(name, id(entry))] = (entry, result)
        return result

    def __len__(self) -> int:
        return len(self._memo)


def flatten_entries(config: Any, memo: EntryMemo | None, prefix: str = "", depth: int = 0) -> dict[str, Any]:
    """`flatten(config)`, each mapping entry (down to MEMO_DEPTH) flattened once per object."""
    if memo is None or depth >= MEMO_DEPTH or not isinstance(config, dict) or not config:
        return flatten(config, prefix)
    flat: dict[str, Any] = {}
    for key, value in config.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            sub = memo.get(
                ("flat", path),
                value,
                lambda value=value, path=path: flatten_entries(value, memo, path, depth + 1),
                keep=lambda sub: len(sub) <= MAX_PATHS,
            )
            flat.update(sub)
        else:
            flat[path] = value
    return flat


def compact_text(config: Any, memo: EntryMemo | None, ensure_ascii: bool = True, depth: int = 0) -> str:
    """`json.dumps(config, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=...)` of a
    parsed document (see `parsed_compact_json`), the same text, joined from each entry's text (a
    mapping's values and a list's items, down to MEMO_DEPTH), made once per entry object."""
    if memo is None or depth >= MEMO_DEPTH or not isinstance(config, dict | list) or not config:
        return parsed_compact_json(config, ensure_ascii)
    if isinstance(config, list):
        return "[" + ",".join(_entry_text(v, memo, ensure_ascii, depth) for v in config) + "]"
    parts = []
    for key in sorted(config, key=_sort_key):
        if not isinstance(key, str):  # json.dumps sorts and spells other keys its own way
            return parsed_compact_json(config, ensure_ascii)
        parts.append(_name_text(key, ensure_ascii) + _entry_text(config[key], memo, ensure_ascii, depth))
    return "{" + ",".join(parts) + "}"


def _entry_text(value: Any, memo: EntryMemo, ensure_ascii: bool, depth: int) -> str:
    if isinstance(value, dict | list) and value:
        return memo.get(
            ("json", ensure_ascii),
            value,
            lambda: compact_text(value, memo, ensure_ascii, depth + 1),
            keep=lambda text: len(text) <= MAX_TEXT,
        )
    try:
        return _scalar_text(type(value), value, ensure_ascii)
    except TypeError:  # unhashable
        return compact_text(value, None, ensure_ascii)


def _sort_key(key: Any) -> Any:
    return key if isinstance(key, str) else str(key)


@functools.lru_cache(maxsize=1 << 16)
def _name_text(key: str, ensure_ascii: bool) -> str:
    return json.dumps(key, ensure_ascii=ensure_ascii) + ":"


@functools.lru_cache(maxsize=1 << 18)
def _scalar_text(kind: type, value: Any, ensure_ascii: bool) -> str:  # `kind`: True is not 1
    return json.dumps(value, separators=_COMPACT, default=str, ensure_ascii=ensure_ascii)
