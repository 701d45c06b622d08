"""Configs as flat field paths: flattening, paths, canonical text and hashes shared by every source
(diffs: `config_diff`)."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import orjson

# Leaf fields (dotted paths, as `flatten` gives them) a config may have: one over it is quarantined by
# its source (the Git parser, the event log), never flattened, diffed or paired field by field. Real
# configs go well past 5,000: openstack/project-config's gerrit/projects.yaml has 7,837 (2026).
MAX_FIELDS = 20_000


def count_fields(config: Any) -> int:
    """`len(flatten(config))` without building the paths (iterative: no recursion)."""
    if not isinstance(config, dict):
        return 0
    count, stack = 0, [config]
    while stack:
        node = stack.pop()
        for value in node.values():
            if isinstance(value, dict) and value:
                stack.append(value)
            else:
                count += 1
    return count


def too_many_fields(config: Any) -> str | None:
    """Why `config` is refused for its size (`has 23,456 fields, more than the 20,000 allowed`), or None."""
    n = count_fields(config)
    return f"has {n:,} fields, more than the {MAX_FIELDS:,} allowed" if n > MAX_FIELDS else None


def flatten(config: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten nested dicts into dotted paths; lists and scalars are leaf values.

    An empty dict is kept as a leaf so that `tags: {}` still counts as a field that is set.
    """
    if not isinstance(config, dict):
        return {prefix: config} if prefix else {}
    if not config and prefix:
        return {prefix: {}}
    flat: dict[str, Any] = {}
    for key, value in config.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            flat.update(flatten(value, path))
        else:
            flat[path] = value
    return flat


_ABSENT = object()


class FlatView:
    """`flatten(config)` read path by path without flattening the whole config: `path in view`,
    `view[path]`, `view.get(path)` and `view.sections()` (first segments of every path). A lookup costs
    the path's length, not the config's size (a key with dots in it is tried at every split)."""

    __slots__ = ("config",)

    def __init__(self, config: Any):
        self.config = config if isinstance(config, dict) else {}

    def get(self, path: str, default: Any = None) -> Any:
        found = _lookup(self.config, path)
        return default if found is _ABSENT else found

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and _lookup(self.config, path) is not _ABSENT

    def __getitem__(self, path: str) -> Any:
        found = _lookup(self.config, path)
        if found is _ABSENT:
            raise KeyError(path)
        return found

    def sections(self) -> set[str]:
        """`{p.split(".", 1)[0] for p in flatten(config)}`: every path starts with a top-level key."""
        return {str(k).split(".", 1)[0] for k in self.config}


def _lookup(node: dict, path: str) -> Any:
    if path in node:
        value = node[path]
        if not (isinstance(value, dict) and value):
            return value
    at = path.find(".")
    while at >= 0:
        child = node.get(path[:at])
        if isinstance(child, dict) and child:
            found = _lookup(child, path[at + 1 :])
            if found is not _ABSENT:
                return found
        at = path.find(".", at + 1)
    return _ABSENT


def unflatten(flat: dict[str, Any]) -> dict[str, Any]:
    """Inverse of `flatten` for dotted paths (used to apply a proposed change)."""
    nested: dict[str, Any] = {}
    for path, value in flat.items():
        node = nested
        parts = path.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return nested


def set_path(flat: dict[str, Any], path: str, value: Any) -> None:
    """Set a leaf of a flattened config, replacing a leaf ancestor (such as an empty `{}`) that would
    hide it."""
    parts = path.split(".")
    for i in range(1, len(parts)):
        flat.pop(".".join(parts[:i]), None)
    if value == {} and any(p.startswith(path + ".") for p in flat):
        return  # "an empty dict here" must not wipe the fields already under it
    remove_path(flat, path)
    flat[path] = value


def remove_path(flat: dict[str, Any], path: str) -> None:
    """Remove a field of a flattened config and everything under it."""
    for p in [p for p in flat if p == path or p.startswith(path + ".")]:
        del flat[p]


def apply_patch(
    config: dict | None, change: dict[str, Any], flat: dict[str, Any] | None = None
) -> dict[str, Any]:
    """`config` with a proposed change applied (dotted path -> new value, None = field removed, as
    the event log's `proposed_change`); `flat`: the config's `flatten`, when already made."""
    flat = dict(flatten(config or {}) if flat is None else flat)
    for path, value in change.items():
        if value is None:
            remove_path(flat, path)
        else:
            set_path(flat, path, value)
    return unflatten(flat)


def canonical_json(config: Any) -> str:
    """Stable, pretty JSON text of a config: the unit that line counts are taken on."""
    return json.dumps(config, indent=2, sort_keys=True, default=str)


def compact_json(config: Any, ensure_ascii: bool = True) -> str:
    """Compact, sorted JSON of a config (the C encoder: `canonical_json` indents, which forces the
    pure-Python one): the text that `config_hash` hashes and `config_snapshots.config_json` holds
    (`entry_memo.compact_text` makes the same text entry by entry). `json.dumps(config, sort_keys=True,
    separators=(",", ":"), default=str, ensure_ascii=...)`, from an encoder made once."""
    return _COMPACT_ENCODERS[ensure_ascii].encode(config)


_COMPACT_ENCODERS = {
    ascii: json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=ascii)
    for ascii in (True, False)
}


# Every byte to a space but the ASCII digits (to "0"): a run of 19 digits becomes 19 zeros.
_DIGITS_ONLY = bytes(48 if 48 <= b <= 57 else 32 for b in range(256))
_LONG_RUN = b"0" * 19


def has_long_digit_run(text: str) -> bool:
    """Whether `text` has 19 ASCII digits in a row (`re.search("[0-9]{19}", text)`, several times faster:
    one translation of its bytes, then a substring search)."""
    return _LONG_RUN in text.encode("utf-8", "surrogatepass").translate(_DIGITS_ONLY)


def loads_json(text: str) -> Any:
    """`json.loads(text)`: by orjson where it can (the same objects, about 3 times faster), by `json`
    for what orjson refuses (NaN, lone surrogates, deep nesting, errors) and for a text with a run of
    19 digits (an integer past 64 bits: orjson would make it a float), so a text decodes, and fails,
    as `json` has it."""
    if not has_long_digit_run(text):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def parsed_compact_json(doc: Any, ensure_ascii: bool = True) -> str:
    """`compact_json(doc, ensure_ascii)` of a document a config parser made (`sources.git.parse`: mappings
    with string keys, lists, strings, integers, floats, booleans, None, and YAML's dates, binary and
    sets), written by orjson (several times faster) where it writes the same text, else by
    `compact_json`. orjson refuses an integer over 64 bits, a key that is no string and a lone surrogate;
    it writes NaN and infinities as `null`, a float under 1e-4 without an exponent (`0.00001`) and an
    exponent's own way, so a text with a `null`, a `0.0000` or an `e+`/`e-` then a digit anywhere is written
    again; `ensure_ascii` escapes what is not ASCII and DEL, which orjson writes as they are."""
    try:
        data = orjson.dumps(doc, default=str, option=orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME)
    except TypeError:  # JSONEncodeError: not plain JSON
        return compact_json(doc, ensure_ascii)
    if _orjson_may_differ(data) or (ensure_ascii and (not data.isascii() or b"\x7f" in data)):
        return compact_json(doc, ensure_ascii)
    return data.decode()


# An exponent as orjson writes one (`1e+16`, `5e-324`), or a look-alike in a string: searched from its `e`.
_EXPONENT = re.compile(rb"e[-+][0-9]")


def _orjson_may_differ(data: bytes) -> bool:
    """Whether orjson's text could differ from json's: a `null` (NaN and infinities are written so), a
    `0.0000` (a small float) or an exponent (`e`, a sign, a digit) anywhere, in a string too."""
    return b"null" in data or b"0.0000" in data or _EXPONENT.search(data) is not None


CONFIG_HASH_LENGTH = 16  # hex digits of the sha256 kept


def config_hash(config: Any, text: str | None = None) -> str:
    """A short hash of the config's content (`text`: its `compact_json`, when already made)."""
    text = compact_json(config) if text is None else text
    return hashlib.sha256(text.encode()).hexdigest()[:CONFIG_HASH_LENGTH]
