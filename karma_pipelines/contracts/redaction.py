"""Redaction of secret-looking config values before they reach any table, log or metadata."""

from __future__ import annotations

import re
from typing import Any

REDACTED = "***REDACTED***"
_SECRET_NAME = re.compile(
    r"(pass(word)?|secret|token|api[_-]?key|private[_-]?key|credential|auth|dsn|conn(ection)?_?string)",
    re.IGNORECASE,
)
_SECRET_VALUE = re.compile(r"(AKIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY-----|://[^/\s:]+:[^@\s]+@)")


def is_secret_field(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


MAX_DEPTH = 64  # deeper than this, a value is redacted whole (never recursed into: no RecursionError)


def redact(value: Any, key: str = "", _depth: int = 0) -> Any:
    """A copy of `value` with secret-named fields and secret-shaped strings replaced; an object or
    array nested deeper than MAX_DEPTH is replaced whole."""
    if isinstance(value, (dict, list)) and _depth >= MAX_DEPTH:
        return REDACTED
    if isinstance(value, dict):
        return {
            k: (REDACTED if is_secret_field(str(k)) else redact(v, str(k), _depth + 1))
            for k, v in value.items()
        }
    if isinstance(value, list):
        # Under a `secrets` list every value is secret (ECS container secrets).
        if is_secret_field(key):
            return [REDACTED for _ in value]
        return [redact(v, key, _depth + 1) for v in value]
    if isinstance(value, str) and _SECRET_VALUE.search(value):
        return REDACTED
    return value
