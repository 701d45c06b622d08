"""Which fields a generated config sets: the suggester corpus's draws over the simulator's one
catalogue of component types (`simulator.component_types`), following each field's `kind`.

Service-level draws (shared by a service's environments) come from `shape`, environment-level ones
from `rng`; `drift` lets an environment stray from its service's shape.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from karma_pipelines.contracts.config_fields import unflatten
from karma_pipelines.contracts.schema import ENVIRONMENTS
from karma_pipelines.simulator.component_types import FUNCTION_PREFIX, SPECS, Field, TypeSpec
from karma_pipelines.simulator.fields import ENV_VARS as SIM_ENV_VARS
from karma_pipelines.simulator.fields import SECRET_NAMES
from karma_pipelines.simulator.templates import LAMBDA_NAMES

ENV_VARS = tuple(SIM_ENV_VARS)
SECRETS = tuple(s for s in SECRET_NAMES if s != "DB_PASSWORD")  # DB_PASSWORD follows a database link
_STRUCTURE = ("node", "map")


def top_fields(spec: TypeSpec) -> tuple[Field, ...]:
    """The type's own fields with a fixed name (not user-named keys, not per-function fields)."""
    return tuple(f for f in spec.fields if "*" not in f.path and f.kind not in _STRUCTURE)


def _function_fields() -> tuple[Field, ...]:
    out = []
    for f in SPECS["lambda"].fields:
        tail = f.path.removeprefix(FUNCTION_PREFIX)
        if f.path.startswith(FUNCTION_PREFIX) and "*" not in tail and f.kind not in _STRUCTURE:
            out.append(replace(f, path=tail))
    return tuple(out)


FUNCTION_FIELDS = _function_fields()


def maps(spec: TypeSpec) -> list[tuple[str, Any]]:
    """(prefix, kind) of the type's user-named maps (`lambda` = its functions)."""
    return [
        (f.path.removesuffix(".*"), f.arg)
        for f in spec.fields
        if f.kind == "map" and not f.path.startswith(FUNCTION_PREFIX)
    ]


def required_fields(ctype: str, fields: list[str]) -> list[str]:
    """Required paths of a config with these fields (one set per lambda function), tags included."""
    req = [f.path for f in top_fields(SPECS[ctype]) if f.is_required]
    if ctype == "lambda":
        fns = sorted({f.split(".")[1] for f in fields if f.startswith("functions.")})
        req += [f"functions.{n}.{x.path}" for n in fns for x in FUNCTION_FIELDS if x.is_required]
    return req + ["tags.Project", "tags.Environment", "tags.Owner"]


@dataclass
class Service:
    project: str
    ctype: str
    name: str
    envs: tuple[str, ...]
    refs: dict[str, dict[str, str]]  # env -> producer type -> nickname
    seed: int


def value(name: str, rng: np.random.Generator) -> Any:
    """A plausible placeholder value (only the field names matter to the suggester)."""
    leaf = name.rpartition(".")[2]
    if leaf.startswith(("enable_", "is_")) or leaf in (
        "fifo",
        "versioning",
        "force_destroy",
        "multi_az",
        "dlq_enabled",
    ):
        return bool(rng.random() < 0.7)
    if leaf.endswith(
        ("_count", "_size", "_days", "_seconds", "_port", "_limit", "_timeout", "_gb", "_iops", "_hours")
    ):
        return int(rng.integers(1, 500))
    if leaf.endswith(("_ids", "_cidrs", "_urls", "_aliases", "_types", "_providers", "_groups", "_origins")):
        return [f"{leaf}-{int(rng.integers(100))}"]
    return f"{leaf}-{int(rng.integers(1000))}"


def _decide(spec: Field, env: str, service_draw: float, env_draw: float, style: dict[str, bool]) -> bool:
    if spec.kind in ("req", "always") or spec.is_required:
        return True
    if spec.kind in ("opt", "legacy"):
        return service_draw < spec.p
    if spec.kind == "style":
        return service_draw < (spec.p if style.get(spec.path, False) else 0.08)
    if spec.kind == "env":
        return env_draw < spec.arg.get(env, spec.p)
    return False


def fields_of(
    specs: tuple[Field, ...],
    env: str,
    refs: dict[str, str],
    rng: np.random.Generator,
    shape: np.random.Generator,
    style: dict[str, bool],
    groups: dict[str, float],
    drift: float,
) -> list[str]:
    """Field names of one config; a field the Terraform cannot do without is always set."""
    chosen: set[str] = set()
    draws = {s.path: float(shape.random()) for s in specs}
    group_on = {g: shape.random() < p for g, p in sorted(groups.items())}
    for spec in specs:
        service_draw = draws[spec.path]
        if rng.random() < drift:  # this environment drifted from the service's shape
            service_draw = float(rng.random())
        env_draw = float((shape.random() + rng.random()) / 2) if spec.kind == "env" else 0.0
        if spec.is_required:
            on = True
        elif spec.kind == "dep":
            on = spec.arg in refs and service_draw < spec.p
        elif spec.kind == "group":
            on = group_on.get(spec.arg, False)
        elif spec.kind == "with":
            on = False
        else:
            on = _decide(spec, env, service_draw, env_draw, style)
        if on:
            chosen.add(spec.path)
    for spec in specs:  # fields set together with another one
        if spec.kind == "with" and spec.arg in chosen and draws[spec.path] < spec.p:
            chosen.add(spec.path)
    return sorted(chosen)


def map_fields(
    kind: Any, prefix: str, env: str, refs: dict[str, str], rng, shape, style: dict[str, bool], drift: float
) -> list[str]:
    out: list[str] = []
    if kind == "lambda":
        n = int(shape.integers(1, 5))
        names = [LAMBDA_NAMES[i] for i in sorted(shape.choice(len(LAMBDA_NAMES), n, replace=False))]
        for name in names:
            fn_shape = np.random.default_rng(int(shape.integers(1 << 30)))
            fields = fields_of(FUNCTION_FIELDS, env, refs, rng, fn_shape, style, {}, drift)
            out += [f"{prefix}.{name}.{f}" for f in fields]
            vars_ = [v for v in ENV_VARS if fn_shape.random() < (0.5 if style.get(f"env:{v}") else 0.1)]
            out += [f"{prefix}.{name}.environment.{v}" for v in vars_]
        return out
    if kind == "env_vars":
        picks = [v for v in ENV_VARS if shape.random() < (0.75 if style.get(f"env:{v}") else 0.12)]
        if "sqs-queue" in refs:
            picks.append("QUEUE_URL")
        picks = [v for v in picks if rng.random() >= drift]
        return [f"{prefix}.{v}" for v in picks]
    if kind == "secrets":
        picks = [s for s in SECRETS if shape.random() < 0.25]
        if "rds-postgres" in refs:
            picks.append("DB_PASSWORD")
        return [f"{prefix}.{s}" for s in picks]
    return [f"{prefix}.{name}" for name, p in kind if shape.random() < p]


def house_style(project_rng: np.random.Generator) -> dict[str, bool]:
    """The optional fields a team always sets (and its favourite environment variables)."""
    style = {}
    for spec in SPECS.values():
        for f in top_fields(spec):
            if f.kind == "style":
                style[f.path] = bool(project_rng.random() < 0.6)
    for f in FUNCTION_FIELDS:
        if f.kind == "style":
            style[f.path] = bool(project_rng.random() < 0.6)
    for v in ENV_VARS:
        style[f"env:{v}"] = bool(project_rng.random() < 0.35)
    return style


def config_fields(svc: Service, env: str, styles, drift: float) -> list[str]:
    spec = SPECS[svc.ctype]
    shape = np.random.default_rng(svc.seed)
    rng = np.random.default_rng([svc.seed, ENVIRONMENTS.index(env)])
    refs = svc.refs[env]
    # Links the service does not use are dropped, per service (consumers of a queue, a database, ...).
    used = {t: n for t, n in refs.items() if t in ("vpc", "ecs-cluster", "s3-bucket") or shape.random() < 0.5}
    style = styles[svc.project]
    fields = fields_of(top_fields(spec), env, used, rng, shape, style, spec.groups, drift)
    for prefix, kind in maps(spec):
        fields += map_fields(kind, prefix, env, used, rng, shape, style, drift)
    fields += ["tags.Project", "tags.Environment", "tags.Owner"]
    if style.get("enable_ssm_endpoints"):  # a house tag
        fields.append("tags.CostCenter")
    return sorted(set(fields))


def materialize(fields: list[str], refs: dict[str, str], rng: np.random.Generator) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name in fields:
        leaf = name.rpartition(".")[2]
        if leaf.endswith("_nickname") and leaf != "src_nickname":
            producer = leaf.removesuffix("_nickname").replace("_", "-")
            producer = "ecs-cluster" if producer == "cluster" else producer
            flat[name] = refs.get(producer, f"{producer}-missing")
        elif leaf == "src_nickname":
            flat[name] = refs.get("s3-bucket", "bucket")
        elif leaf == "src_type":
            flat[name] = "s3-bucket"
        elif leaf.endswith("_runtime_path"):
            producer = "rds-postgres" if leaf.startswith("db") else "sqs-queue"
            flat[name] = f"/iac/{producer}/{refs.get(producer, 'x')}/runtime"
        else:
            flat[name] = value(name, rng)
    return unflatten(flat)
