"""Edits on flattened configs, and proposed changes (dotted path -> new value, None = removed)."""

from __future__ import annotations

from typing import Any

from karma_pipelines.contracts.config_fields import apply_patch, remove_path, set_path  # noqa: F401 (re-exported
from karma_pipelines.contracts.dependencies import reference_type
from karma_pipelines.simulator.memo import flat_of
from karma_pipelines.simulator.world import Component

Flat = dict[str, Any]


def remove_leaf(flat: Flat, path: str) -> None:
    """Remove a field; a dict it leaves empty stays, as `{}` (an env-var block with no vars)."""
    remove_path(flat, path)
    parent = path.rpartition(".")[0]
    if parent and not any(p.startswith(parent + ".") for p in flat):
        flat[parent] = {}


def change_between(before: dict | None, after: dict | None) -> dict[str, Any]:
    """The proposed change that turns `before` into `after`: removals first, then new values."""
    old, new = flat_of(before or {}), flat_of(after or {})
    added = [p for p in new if p not in old or old[p] != new[p]]
    removed = [
        p for p in old if p not in new and not any(a.startswith(p + ".") for a in added)
    ]  # a `{}` leaf that became a parent of new fields is not a removal
    return {**dict.fromkeys(removed), **{p: new[p] for p in added}}


def apply_change(config: dict | None, change: dict[str, Any]) -> dict[str, Any]:
    return apply_patch(config, change, flat_of(config or {}))


def _reference_kind(flat: Flat, path: str) -> str | None:
    """The producer type a reference field points to, or None if `path` is no reference."""
    parent, _, name = path.rpartition(".")
    if name == "src_nickname":
        return flat.get(f"{parent}.src_type" if parent else "src_type") or "s3-bucket"
    if name.endswith("_runtime_path"):
        return "runtime_path"
    return reference_type(name)


def localize(change: dict[str, Any], source_before: dict | None, target: Component,
             target_config: dict) -> dict[str, Any]:  # fmt: skip
    """A change made in one environment, made fit for the same service in another.

    References are pointed at the target's own producers (or dropped when it has none), and
    edits inside a block the target does not have (say a lambda function only dev has) are
    skipped; blocks that the change itself creates are copied whole.
    """
    have = flat_of(target_config)
    had = flat_of(source_before or {})
    out: dict[str, Any] = {}
    for path, value in change.items():
        parent = path.rpartition(".")[0]
        if parent and value is not None:
            exists = any(p == parent or p.startswith(parent + ".") for p in have)
            existed = any(p == parent or p.startswith(parent + ".") for p in had)
            if existed and not exists:
                continue
        kind = _reference_kind({**had, **change}, path)
        if kind and value is not None:
            if kind == "runtime_path":
                producer = str(value).split("/")[2]
                nick = target.ref(producer)
                value = f"/iac/{producer}/{nick}/runtime" if nick else None
            else:
                value = target.ref(kind)
            if value is None:
                continue
        out[path] = value
    return out
