"""What engineers change: small tweaks, risky edits, refactors, structural edits and mistakes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from karma_pipelines.contracts.config_fields import flatten, unflatten
from karma_pipelines.simulator.edits import Flat, change_between, remove_leaf, set_path
from karma_pipelines.simulator.fields import (
    ENV_VARS,
    FEATURE_GROUPS,
    GENERATORS,
    SECRET_NAMES,
    env_var_value,
    feature_group,
    pick,
    secret_value,
)
from karma_pipelines.simulator.memo import flat_of
from karma_pipelines.simulator.mistakes import add_unused, drop_required, fix_one
from karma_pipelines.simulator.risk import field_kind
from karma_pipelines.simulator.templates import LAMBDA_NAMES, initial_config, lambda_function
from karma_pipelines.simulator.world import Component


@dataclass(frozen=True)
class Proposal:
    config: dict[str, Any]  # the full config after the change
    change: dict[str, Any]  # dotted path -> new value (None = removed)
    kind: str  # create, tweak, risky, refactor, structural, mistake, fix
    message: str


def _is_env_var(path: str) -> bool:
    parent = path.rpartition(".")[0]
    return parent.rsplit(".", 1)[-1] == "environment" and not path.endswith("_runtime_path")


def _editable(flat: Flat) -> list[str]:
    out = []
    for path in flat:
        name = path.rsplit(".", 1)[-1]
        if name in GENERATORS or _is_env_var(path):
            out.append(path)
    return out


def _edit(rng: np.random.Generator, flat: Flat, path: str) -> None:
    name = path.rsplit(".", 1)[-1]
    gen = GENERATORS.get(name)
    flat[path] = gen(rng, flat[path]) if gen else env_var_value(rng, name, flat[path])


def _edit_some(rng: np.random.Generator, flat: Flat, paths: list[str], k: int) -> list[str]:
    if not paths:
        return []
    chosen = [paths[int(i)] for i in rng.choice(len(paths), min(k, len(paths)), replace=False)]
    for path in chosen:
        _edit(rng, flat, path)
    return chosen


def _structural(rng: np.random.Generator, c: Component, flat: Flat) -> str | None:
    """One structural edit (a block added or removed); returns a message, None if none fits."""
    ops: list[str] = []
    env_blocks = sorted(
        {p.rpartition(".")[0] for p in flat if _is_env_var(p)}
        | {p for p, v in flat.items() if v == {} and p.endswith("environment")}
    )
    env_vars = sorted(p for p in flat if _is_env_var(p))
    if env_blocks:
        ops.append("add_env")
    if env_vars:
        ops.append("remove_env")
    functions = sorted({p.split(".")[1] for p in flat if p.startswith("functions.")})
    if c.type == "lambda":
        ops += ["add_function"] + (["remove_function"] if len(functions) > 1 else [])
    if c.type == "ecs-service":
        ops.append("secret")
    if c.type == "clickhouse":
        ops.append("feature")
    if not ops:
        return None
    op = pick(rng, ops)
    if op == "add_env":
        block = pick(rng, env_blocks)
        free = [n for n in sorted(ENV_VARS) if f"{block}.{n}" not in flat]
        name = pick(rng, free) if free else f"EXTRA_{int(rng.integers(100))}"
        set_path(flat, f"{block}.{name}", env_var_value(rng, name))
        return f"add {name} to {block}"
    if op == "remove_env":
        path = pick(rng, env_vars)
        remove_leaf(flat, path)
        return f"remove {path}"
    if op == "add_function":
        free = [n for n in LAMBDA_NAMES if n not in functions]
        if not free:
            return None
        name = pick(rng, free)
        for path, value in flatten({"functions": {name: lambda_function(rng, c, name)}}).items():
            set_path(flat, path, value)
        return f"add function {name}"
    if op == "remove_function":
        name = pick(rng, functions)
        for path in [p for p in flat if p.startswith(f"functions.{name}.")]:
            del flat[path]
        return f"remove function {name}"
    if op == "secret":
        name = pick(rng, SECRET_NAMES)
        path = f"container.secrets.{name}"
        if path in flat:
            remove_leaf(flat, path)
            return f"drop secret {name}"
        set_path(flat, path, secret_value(rng, c.project, c.env, name))
        return f"add secret {name}"
    flag = pick(rng, sorted(FEATURE_GROUPS))
    turn_on = not flat.get(flag, False)
    flat[flag] = turn_on
    for field, value in feature_group(rng, flag).items():
        if turn_on:
            set_path(flat, field, value)
        else:
            flat.pop(field, None)
    return f"{'enable' if turn_on else 'disable'} {flag.removeprefix('enable_')}"


def _short(paths: list[str]) -> str:
    names = [p.rsplit(".", 1)[-1] for p in paths[:3]]
    return ", ".join(names) + (" and more" if len(paths) > 3 else "")


def _draw_update(rng: np.random.Generator, c: Component, flat: Flat, novice: bool) -> tuple[str, str]:
    """Apply one kind of change to `flat` in place; returns (kind, message)."""
    editable = _editable(flat)
    risky = [p for p in editable if field_kind(p)]
    benign = [p for p in editable if not field_kind(p)]
    r = rng.random()
    p_mistake = 0.08 if novice else 0.035
    if r < p_mistake:
        path = drop_required(rng, c, flat) if rng.random() < 0.5 else add_unused(rng, c, flat)
        if path:
            return "mistake", f"update {path.rsplit('.', 1)[-1]}"
    elif r < p_mistake + 0.12:
        message = _structural(rng, c, flat)
        if message:
            return "structural", message
    elif r < p_mistake + 0.12 + (0.2 if novice else 0.1):
        chosen = _edit_some(rng, flat, editable, int(rng.integers(3, 8)))
        if rng.random() < 0.4:
            _structural(rng, c, flat)
        return "refactor", f"rework {c.service}: {_short(chosen)}"
    elif r < p_mistake + 0.12 + 0.1 + 0.17 and risky:
        chosen = _edit_some(rng, flat, risky, 1)
        if rng.random() < 0.3:
            chosen += _edit_some(rng, flat, editable, 1)
        return "risky", f"change {_short(chosen)}"
    pool = benign if benign and rng.random() < 0.7 else editable
    chosen = _edit_some(rng, flat, pool, 1 if rng.random() < 0.75 else 2)
    return "tweak", f"tweak {_short(chosen)}"


def propose_update(rng: np.random.Generator, c: Component, config: dict[str, Any], novice: bool) -> Proposal:
    flat = dict(flat_of(config))
    fixed = fix_one(rng, c, flat) if rng.random() < 0.25 else None
    if fixed:
        kind, message = "fix", f"fix {fixed[1]} field {fixed[0]}"
    else:
        kind, message = _draw_update(rng, c, flat, novice)
    new = unflatten(flat)
    if new == config:  # nothing changed after all: a hand edit of the owner tag
        set_path(flat, "tags.Owner", f"{c.project}-oncall")
        new, kind, message = unflatten(flat), "tweak", "update owner"
    return Proposal(new, change_between(config, new), kind, message)


def propose_create(rng: np.random.Generator, c: Component, previous: dict[str, Any] | None) -> Proposal:
    """A first deploy, or a re-create after the create was rolled back (from its last config)."""
    flat = flatten(previous if previous is not None else initial_config(c))
    if previous is not None:
        fix_one(rng, c, flat)
    elif rng.random() < 0.08:
        drop_required(rng, c, flat) if rng.random() < 0.5 else add_unused(rng, c, flat)
    new = unflatten(flat)
    return Proposal(new, change_between(None, new), "create", f"create {c.type} {c.nickname}")
