"""Diffs of configs: the fields added, removed and changed, and the lines of their JSON that changed."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

import cydifflib
import orjson

from karma_pipelines.contracts.config_fields import canonical_json, compact_json, flatten

_CONSTANTS = {None: "null", True: "true", False: "false"}
# Where orjson's indented text differs from `canonical_json`'s, seen in the compact text json writes:
# escapes of non-ASCII and control characters, non-finite floats, exponents (`1e-05`: orjson `0.00001`).
_EXPONENT, _EXPONENT_AFTER_DIGIT = re.compile(r"e[-+][0-9]"), re.compile(r"[0-9]e[-+][0-9]")
# Sorted keys, two spaces; dates, subclasses and dataclasses refused (json writes them with `default=str`).
_INDENTED = (
    orjson.OPT_INDENT_2
    | orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATACLASS
)
_string = json.encoder.encode_basestring_ascii  # the encoder's own (C) escaping of a string


@dataclass(frozen=True)
class ConfigDiff:
    added: list[str]
    removed: list[str]
    changed: list[str]
    lines_added: int
    lines_removed: int

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def columns(self) -> dict[str, Any]:
        """The diff's columns of a deploy record (`fields_*`, `n_fields_*`, `lines_*`)."""
        return {
            "fields_added": self.added,
            "fields_removed": self.removed,
            "fields_changed": self.changed,
            "n_fields_added": len(self.added),
            "n_fields_removed": len(self.removed),
            "n_fields_changed": len(self.changed),
            "lines_added": self.lines_added,
            "lines_removed": self.lines_removed,
        }


def diff_configs(before: dict | None, after: dict | None) -> ConfigDiff:
    """Fields added / removed / changed (dotted paths) and line counts between two configs."""
    return diff_flat(flatten(before or {}), flatten(after or {}), config_lines(before), config_lines(after))


def config_lines(config: dict | None, text: str | None = None) -> list[str]:
    """The lines of a config's `canonical_json` that `diff_configs` counts (none for no config): by
    orjson (`OPT_INDENT_2`, sorted keys) where its text is json's, which its compact text (`text`: the
    config's `compact_json`, when made already) tells; else line by line for plain JSON values (the
    indenting encoder is pure Python and builds the text token by token), by `canonical_json` itself
    for anything else (keys that are not strings, other types, non-finite floats)."""
    if not config:
        return []
    if text is None:
        try:
            text = compact_json(config)
        except (TypeError, ValueError):  # keys that do not sort: canonical_json's own error below
            text = None
    if text is not None and _as_orjson_writes(text):
        try:
            return orjson.dumps(config, option=_INDENTED).decode().split("\n")
        except TypeError:  # not plain JSON (a key that is no string, a big integer, another type)
            pass
    lines: list[str] = []
    try:
        _indented(config, "", "", "", lines)
    except _NotPlain:
        return canonical_json(config).splitlines()
    return lines


def _as_orjson_writes(text: str) -> bool:
    """Whether orjson writes the config of this compact text as json does (substring tests first: a
    regular expression that starts with a class is tried at every position)."""
    if "\\u" in text or "NaN" in text or "Infinity" in text:
        return False
    return _EXPONENT.search(text) is None or _EXPONENT_AFTER_DIGIT.search(text) is None


class _NotPlain(Exception):
    pass


def _indented(value: Any, indent: str, head: str, tail: str, out: list[str]) -> None:
    """`json.dumps(value, indent=2, sort_keys=True)`'s lines into `out`; `head`: the indent and key
    before the value, `tail`: its comma (ASCII escapes: no line break inside a line)."""
    kind = type(value)
    if kind is dict:
        if not value:
            out.append(f"{head}{{}}{tail}")
            return
        if any(type(k) is not str for k in value):
            raise _NotPlain  # the encoder's own text (or error) for other keys
        keys = sorted(value)
        out.append(f"{head}{{")
        inner, last = indent + "  ", keys[-1]
        for key in keys:
            _indented(value[key], inner, f"{inner}{_string(key)}: ", "" if key is last else ",", out)
        out.append(f"{indent}}}{tail}")
    elif kind is list:
        if not value:
            out.append(f"{head}[]{tail}")
            return
        out.append(f"{head}[")
        inner, last = indent + "  ", len(value) - 1
        for i, item in enumerate(value):
            _indented(item, inner, inner, "" if i == last else ",", out)
        out.append(f"{indent}]{tail}")
    elif kind is str:
        out.append(f"{head}{_string(value)}{tail}")
    elif value is None or value is True or value is False:
        out.append(f"{head}{_CONSTANTS[value]}{tail}")
    elif kind is int:
        out.append(f"{head}{int.__repr__(value)}{tail}")
    elif kind is float and math.isfinite(value):
        out.append(f"{head}{float.__repr__(value)}{tail}")
    else:
        raise _NotPlain


def diff_flat(
    old: dict[str, Any], new: dict[str, Any], old_lines: list[str], new_lines: list[str]
) -> ConfigDiff:  # noqa: E501
    """`diff_configs` of two configs already flattened and split into `config_lines` (a caller that
    diffs each config against the next makes both once per config)."""
    added, removed, changed = flat_changes(old, new)
    # The `+` and `-` lines of `difflib.unified_diff(old_lines, new_lines, n=0)`: every line outside
    # the matcher's matching blocks (without the diff's text: no line of a config's JSON starts "++").
    matched = matched_lines(old_lines, new_lines)
    return ConfigDiff(added, removed, changed, len(new_lines) - matched, len(old_lines) - matched)


def flat_changes(old: dict[str, Any], new: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """The dotted paths added, removed and changed between two configs already flattened."""
    if len(new) == len(old) and new.keys() == old.keys():  # the usual deploy: values changed, no path
        return [], [], sorted([p for p, v in new.items() if old[p] != v])
    added = sorted(new.keys() - old.keys())
    removed = sorted(old.keys() - new.keys())
    changed = sorted(p for p in old.keys() & new.keys() if old[p] != new[p])
    return added, removed, changed


def matched_lines(old_lines: list[str], new_lines: list[str]) -> int:
    """How many lines `difflib.SequenceMatcher(None, old_lines, new_lines)` matches: by cydifflib, the
    same algorithm compiled (the same blocks, several times faster)."""
    if old_lines == new_lines:
        return len(new_lines)
    blocks = cydifflib.SequenceMatcher(None, old_lines, new_lines).get_matching_blocks()
    return sum(block.size for block in blocks)
