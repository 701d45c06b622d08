"""Dependency references between components, read from config fields (Karma's conventions)."""

from __future__ import annotations

import re
from typing import Any

from karma_pipelines.contracts.config_fields import flatten

# Fields whose name does not spell the producer's type.
_ALIASES = {"cluster_nickname": "ecs-cluster"}
_REFERENCE_ENDINGS = ("_nickname", "_runtime_path")  # every alias above ends so too
_RUNTIME_PATH = re.compile(r"^/[^/]+/(?P<type>[a-z0-9-]+)/(?P<nick>[A-Za-z0-9._-]+)/runtime")


def reference_type(field_name: str) -> str | None:
    """`vpc_nickname` -> `vpc`, `s3_bucket_nickname` -> `s3-bucket`; None if not a reference."""
    if field_name in _ALIASES:
        return _ALIASES[field_name]
    if field_name.endswith("_nickname") and field_name != "src_nickname":
        return field_name[: -len("_nickname")].replace("_", "-")
    return None


def references(config: dict[str, Any], flat: dict[str, Any] | None = None) -> list[str]:
    """Component keys (`<type>/<nickname>`) that a config depends on, sorted and unique (`flat`: the
    config's `flatten`, when already made)."""
    found: set[str] = set()
    flat = flatten(config) if flat is None else flat
    for path in [p for p in flat if p.endswith(_REFERENCE_ENDINGS)]:  # the only names that can refer
        value = flat[path]
        parent, _, name = path.rpartition(".")
        if not isinstance(value, str) or not value:
            continue
        ref_type = reference_type(name)
        if ref_type:
            found.add(f"{ref_type}/{value}")
        elif name == "src_nickname":
            src_type = flat.get(f"{parent}.src_type" if parent else "src_type")
            if isinstance(src_type, str) and src_type:
                found.add(f"{src_type}/{value}")
        elif name.endswith("_runtime_path"):
            match = _RUNTIME_PATH.match(value)
            if match:
                found.add(f"{match['type']}/{match['nick']}")
    return sorted(found)
