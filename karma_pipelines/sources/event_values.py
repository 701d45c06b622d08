"""What one decoded event line holds: JSON kinds, envelope fields of the wrong type, `attrs` that
records cannot use (ids that are not scalars, a config that is no object or has more than
`MAX_FIELDS` fields, nesting past a bound), and lone surrogates made encodable. Used by `event_log`
while it reads a line."""

from __future__ import annotations

import re
from typing import Any

from karma_pipelines.contracts.config_fields import MAX_FIELDS, too_many_fields

MISSING = object()  # a field absent from the line (not null)
ENVELOPE_STRINGS = ("event_type", "entity_id", "correlation_id", "idempotency_key", "source")
MAX_ATTRS_DEPTH = 64  # deeper `attrs` (a config nested past it) is quarantined, never recursed into
ID_ATTRS = ("deploy_id", "rolls_back", "change_id")  # must be scalars: records key and join on them
SURROGATE = re.compile("[\ud800-\udfff]")


def json_kind(value: Any) -> str:
    """The JSON kind of a decoded value: object, array, string, number, boolean or null."""
    if value is MISSING:
        return "missing"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if value is None:
        return "null"
    return type(value).__name__


def attrs_kind(attrs: Any, line: str) -> str:
    """`attrs`' JSON kind; for an object that records cannot use, `object: <what is wrong>` (which
    the suite quarantines, the reason naming the field)."""
    if not isinstance(attrs, dict):
        return json_kind(attrs)
    for name in ID_ATTRS:
        value = attrs.get(name)
        if isinstance(value, (dict, list)):
            return f"object: attrs.{name} is an {json_kind(value)}, not a string"
    config = attrs.get("config")
    if config is not None and not isinstance(config, dict):
        return f"object: attrs.config is {_a(json_kind(config))}, not an object"
    # Every leaf field takes at least 4 characters (`"":1`): a shorter line cannot be over the cap.
    if config and len(line) > 4 * MAX_FIELDS and (too_big := too_many_fields(config)) is not None:
        return f"object: attrs.config {too_big}"
    # A line with few brackets cannot be deep: only a suspect one is walked.
    if line.count("{") + line.count("[") > MAX_ATTRS_DEPTH:
        for name, value in attrs.items():
            if _deeper_than(value, MAX_ATTRS_DEPTH - 1):
                return f"object: attrs.{name} nested deeper than {MAX_ATTRS_DEPTH} levels"
    return "object"


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def envelope_error(obj: dict) -> str | None:
    """Which envelope fields are present but not strings (never coerced: `12345`, `true`, `{"k": 1}`)."""
    wrong = [
        f"{name} is {_a(json_kind(obj[name]))}, not a string"
        for name in ENVELOPE_STRINGS
        if obj.get(name) is not None and not isinstance(obj[name], str)
    ]
    return "; ".join(wrong) or None


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether `value` nests more than `limit` objects/arrays deep (iterative: no recursion)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth >= limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def without_surrogates(value: Any, depth: int) -> Any:
    """`value` with every lone surrogate (a `\\ud800` escape: not encodable) replaced by U+FFFD;
    only `depth` levels down (deeper is quarantined anyway)."""
    if isinstance(value, str):
        return SURROGATE.sub("\ufffd", value)
    if depth <= 0:
        return value
    if isinstance(value, dict):
        return {without_surrogates(k, 0): without_surrogates(v, depth - 1) for k, v in value.items()}
    if isinstance(value, list):
        return [without_surrogates(v, depth - 1) for v in value]
    return value
