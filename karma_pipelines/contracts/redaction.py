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


def redact(value: Any, key: str = "") -> Any:
    """A copy of `value` with secret-named fields and secret-shaped strings replaced."""
    if isinstance(value, dict):
        return {k: (REDACTED if is_secret_field(str(k)) else redact(v, str(k))) for k, v in value.items()}
    if isinstance(value, list):
        # Under a `secrets` list every value is secret (ECS container secrets).
        if is_secret_field(key):
            return [REDACTED for _ in value]
        return [redact(v, key) for v in value]
    if isinstance(value, str) and _SECRET_VALUE.search(value):
        return REDACTED
    return value
