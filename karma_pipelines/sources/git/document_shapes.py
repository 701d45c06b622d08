"""Config documents that are not a mapping to begin with, made one (`parse.parse_config` calls these): a
top-level list of named mappings (Zuul's `- job: {name: x, ...}`, Gerrit's `- project: openstack/nova`),
keyed by their names, and an INI / git-config file (Gerrit's `project.config`) as sections of keys."""

from __future__ import annotations

import re
from typing import Any


def named_items(items: list) -> dict | None:
    """A top-level list of named mappings as a mapping keyed by their names; None when an item is
    not a mapping whose first key names it."""
    out: dict[str, Any] = {}
    for item in items:
        if not isinstance(item, dict) or not item:
            return None
        key, value = next(iter(item.items()))
        name = value.get("name") if isinstance(value, dict) else value
        if isinstance(name, bool) or not isinstance(name, str | int | float):
            return None
        label = f"{key}:{name}"
        n = 1
        while (label if n == 1 else f"{label}#{n}") in out:
            n += 1
        # `- job: {name: x, ...}` is the job's mapping; `- project: x` with more keys, the item.
        out[label if n == 1 else f"{label}#{n}"] = (
            value if isinstance(value, dict) and len(item) == 1 else item
        )
    return out or None


_SECTION = re.compile(r"\[\s*([^\]]+?)\s*\]\s*(?:[#;].*)?")


def ini_document(text: str) -> dict | None:
    """An INI / git-config document as `{section: {key: value or [values]}}`, or None when the text
    does not start (after comments and blank lines) with a `[section]` header."""
    doc: dict[str, dict[str, Any]] = {}
    section: dict[str, Any] | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        header = _SECTION.fullmatch(line)
        if header:
            section = doc.setdefault(header.group(1), {})
            continue
        if section is None:
            return None
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"line {number} is neither a [section] nor key = value")
        key, value = key.strip(), value.strip()
        if key in section:
            old = section[key]
            section[key] = [*old, value] if isinstance(old, list) else [old, value]
        else:
            section[key] = value
    return doc if section is not None else None
