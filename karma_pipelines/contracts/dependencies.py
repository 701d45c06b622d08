"""Dependency references between components, read from config fields (Karma's conventions).

Each reference has a kind, the field that makes it: `<type>_nickname` (`vpc_nickname`), `src_nickname`
(with its `src_type`), `<name>_runtime_path` (`/<root>/<type>/<nickname>/runtime`). Implicit name links
(`route53_zone_name: dev.acme.example.com`) name a component by one of its own `*_name` values, not by
key: `name_links` gives them (kind, producer type, name) for the graph to resolve against live configs.
"""

from __future__ import annotations

import re
from typing import Any

from karma_pipelines.contracts.config_fields import flatten

# Fields whose name does not spell the producer's type.
_ALIASES = {"cluster_nickname": "ecs-cluster"}
_REFERENCE_ENDINGS = ("_nickname", "_runtime_path")  # every alias above ends so too
_RUNTIME_PATH = re.compile(r"^/[^/]+/(?P<type>[a-z0-9-]+)/(?P<nick>[A-Za-z0-9._-]+)/runtime")
# `<producer type>_name` fields that name another component (its own `*_name` value), by convention.
NAME_LINK_TYPES = {"route53_zone_name": "route53-zone"}


def reference_type(field_name: str) -> str | None:
    """`vpc_nickname` -> `vpc`, `s3_bucket_nickname` -> `s3-bucket`; None if not a reference."""
    if field_name in _ALIASES:
        return _ALIASES[field_name]
    if field_name.endswith("_nickname") and field_name != "src_nickname":
        return field_name[: -len("_nickname")].replace("_", "-")
    return None


def typed_references(config: dict[str, Any], flat: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    """(component key, kind) of every reference a config makes, sorted and unique; the kind is the
    field's name (`vpc_nickname`, `src_nickname`, `db_runtime_path`)."""
    found: set[tuple[str, str]] = set()
    flat = flatten(config) if flat is None else flat
    for path in [p for p in flat if p.endswith(_REFERENCE_ENDINGS)]:  # the only names that can refer
        value = flat[path]
        parent, _, name = path.rpartition(".")
        if not isinstance(value, str) or not value:
            continue
        ref_type = reference_type(name)
        if ref_type:
            found.add((f"{ref_type}/{value}", name))
        elif name == "src_nickname":
            src_type = flat.get(f"{parent}.src_type" if parent else "src_type")
            if isinstance(src_type, str) and src_type:
                found.add((f"{src_type}/{value}", name))
        elif name.endswith("_runtime_path"):
            match = _RUNTIME_PATH.match(value)
            if match:
                found.add((f"{match['type']}/{match['nick']}", name))
    return sorted(found)


def references(config: dict[str, Any], flat: dict[str, Any] | None = None) -> list[str]:
    """Component keys (`<type>/<nickname>`) that a config depends on, sorted and unique (`flat`: the
    config's `flatten`, when already made)."""
    return sorted({key for key, _ in typed_references(config, flat)})


def _name(value: str) -> str:
    """A DNS-like name as compared: `Strall.com.` and `strall.com` are one name."""
    return value.strip().rstrip(".").lower()


def name_links(config: dict[str, Any], flat: dict[str, Any] | None = None) -> list[tuple[str, str, str]]:
    """(kind, producer type, name) of every implicit name link (`route53_zone_name`), sorted."""
    flat = flatten(config) if flat is None else flat
    found = set()
    for path, value in flat.items():
        name = path.rpartition(".")[2]
        if name in NAME_LINK_TYPES and isinstance(value, str) and value:
            found.add((name, NAME_LINK_TYPES[name], _name(value)))
    return sorted(found)


def own_names(config: dict[str, Any]) -> set[str]:
    """The top-level `*_name` string values of a config: how a name link finds its producer."""
    return {
        _name(v)
        for k, v in config.items()
        if k.endswith("_name") and k not in NAME_LINK_TYPES and isinstance(v, str) and v
    }
