"""Config mistakes engineers make (a required field left out, a field nothing reads) and fixes."""

from __future__ import annotations

from typing import Any

import numpy as np

from karma_pipelines.contracts.config_fields import flatten, unflatten
from karma_pipelines.simulator.catalog import TAG_FIELDS, is_used, mistakes, required_paths
from karma_pipelines.simulator.edits import Flat, remove_path, set_path
from karma_pipelines.simulator.fields import FOREIGN_FIELDS, GENERATORS, misspell, pick
from karma_pipelines.simulator.templates import initial_config
from karma_pipelines.simulator.world import Component

# Environment and Project tags come from the tooling; Owner is typed by hand and gets forgotten.
_NEVER_DROPPED = set(TAG_FIELDS) - {"tags.Owner"}


def drop_required(rng: np.random.Generator, c: Component, flat: Flat) -> str | None:
    """Remove one required field; returns its path (None if there is none to remove)."""
    config = unflatten(flat)
    options = [p for p in required_paths(c.type, config) if p in flat and p not in _NEVER_DROPPED]
    if not options:
        return None
    path = pick(rng, sorted(options))
    remove_path(flat, path)
    return path


def add_unused(rng: np.random.Generator, c: Component, flat: Flat) -> str | None:
    """Set a field the type never reads: a misspelt field name, or a field of another type."""
    for _ in range(8):
        if rng.random() < 0.6:
            source = pick(rng, sorted(p for p in flat if not p.startswith("tags")) or ["name"])
            parent, _, name = source.rpartition(".")
            if len(name) < 4:
                continue
            typo = misspell(rng, name, replace=False)
            path, value = (f"{parent}.{typo}" if parent else typo), flat.get(source, "")
        else:
            path = pick(rng, sorted(FOREIGN_FIELDS))
            value = FOREIGN_FIELDS[path]
        if path not in flat and not is_used(c.type, path) and not _hides(flat, path):
            set_path(flat, path, value)
            return path
    return None


def _hides(flat: Flat, path: str) -> bool:
    """Would setting `path` replace an existing leaf ancestor or subtree?"""
    return any(p.startswith(path + ".") or path.startswith(p + ".") for p in flat)


def restored_value(rng: np.random.Generator, c: Component, path: str) -> Any:
    """What an engineer puts back for a missing required field (None if nothing sensible)."""
    fresh = flatten(initial_config(c))
    if path in fresh:
        return fresh[path]
    name = path.rsplit(".", 1)[-1]
    same_name = sorted(p for p in fresh if p.rsplit(".", 1)[-1] == name)
    if same_name:
        return fresh[same_name[0]]
    gen = GENERATORS.get(name)
    return gen(rng, None) if gen else None


def fix_one(rng: np.random.Generator, c: Component, flat: Flat) -> tuple[str, str] | None:
    """Fix one mistake in place; returns (field, kind) fixed, or None."""
    found = sorted(mistakes(c.type, unflatten(flat)))
    rng.shuffle(found)
    for path, kind in found:
        if kind == "unused":
            remove_path(flat, path)
            return path, kind
        value = restored_value(rng, c, path)
        if value is not None and not _hides(flat, path):
            set_path(flat, path, value)
            return path, kind
    return None
