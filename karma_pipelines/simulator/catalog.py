"""Questions about configs, answered from the one catalogue of component types (`component_types`):
which fields a type's Terraform reads, which it cannot do without, and what a config gets wrong."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from karma_pipelines.simulator.component_types import SPECS, Field, TypeSpec
from karma_pipelines.simulator.memo import IdentityCache, flat_of

__all__ = ["FOUNDATION", "SERVICE_MIX", "SPECS", "TAG_FIELDS", "Field", "TypeSpec"]

TAG_FIELDS = ("tags.Project", "tags.Environment", "tags.Owner")


# Every project has these services, created first; other services depend on them.
FOUNDATION = ("vpc", "ecs-cluster", "s3-bucket", "route53-zone")
# Relative frequency of the other service types when a project grows.
SERVICE_MIX = {
    "ecs-service": 5.0, "lambda": 3.0, "s3-bucket": 1.5, "sqs-queue": 1.5, "rds-postgres": 1.2,
    "serverless-api": 1.0, "serverless-site": 1.0, "grafana": 0.4, "clickhouse": 0.4,
}  # fmt: skip


def _matches(pattern: str, path: str) -> bool:
    p, q = pattern.split("."), path.split(".")
    return len(p) == len(q) and all(a == "*" or a == b for a, b in zip(p, q, strict=True))


@lru_cache(maxsize=65536)
def is_used(type_name: str, path: str) -> bool:
    """Does this type's Terraform read the field at `path`?"""
    if path == "tags" or path.startswith("tags."):
        return True
    return any(_matches(pat, path) for pat in SPECS[type_name].reads)


def _expand(pattern: str, config: dict[str, Any]) -> list[str]:
    """Concrete paths for a pattern, one per existing key where it has a `*`."""
    paths = [("", config)]
    for part in pattern.split("."):
        nxt = []
        for prefix, node in paths:
            keys = list(node) if part == "*" and isinstance(node, dict) else [part]
            for key in keys:
                child = node.get(key) if isinstance(node, dict) else None
                nxt.append((f"{prefix}.{key}" if prefix else key, child))
        paths = nxt
    return [p for p, _ in paths if "*" not in p]


def required_paths(type_name: str, config: dict[str, Any]) -> list[str]:
    out: list[str] = list(TAG_FIELDS)
    for pattern in SPECS[type_name].required:
        out += _expand(pattern, config)
    return out


def _missing(config: dict[str, Any], type_name: str) -> list[str]:
    flat = flat_of(config)
    return sorted(p for p in required_paths(type_name, config) if p not in flat)


def _unused(config: dict[str, Any], type_name: str) -> list[str]:
    return sorted(p for p in flat_of(config) if not is_used(type_name, p))


_missing_of = IdentityCache(_missing)
_unused_of = IdentityCache(_unused)


def missing_fields(type_name: str, config: dict[str, Any] | None) -> list[str]:
    """Required fields of the type that `config` lacks (never mutate the list returned)."""
    return _missing_of(config, type_name) if config else []


def unused_fields(type_name: str, config: dict[str, Any] | None) -> list[str]:
    """Fields set in `config` that the type never reads (never mutate the list returned)."""
    return _unused_of(config, type_name) if config else []


def mistakes(type_name: str, config: dict[str, Any] | None) -> set[tuple[str, str]]:
    """(field, kind) pairs: required fields that are missing and set fields that are unused."""
    found = {(f, "missing") for f in missing_fields(type_name, config)}
    return found | {(f, "unused") for f in unused_fields(type_name, config)}
