"""The planted causes of rollbacks: facts observable in the event log at deploy time, and the
true rollback probability they give, `sigmoid(intercept + sum of the active causes' weights)`."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from karma_pipelines.contracts.config_diff import ConfigDiff
from karma_pipelines.simulator.clock import DAY, HOUR

NETWORK_FIELDS = frozenset({
    "cidr", "default_sg_extra_ingress_cidrs", "security_groups", "assign_public_ip",
    "default_sg_allow_self", "single_nat_gateway", "enable_ssm_endpoints", "ingress",
})  # fmt: skip
CAPACITY_FIELDS = frozenset({
    "desired_count", "cpu", "memory", "memory_size", "az_count", "instance_class",
    "allocated_storage", "instance_type", "data_volume_size", "broker_count", "replica_count",
})  # fmt: skip
IMAGE_FIELDS = frozenset({
    "image", "runtime", "platform_version", "engine_version", "clickhouse_version",
    "grafana_version", "redpanda_version", "mongo_version",
})  # fmt: skip
RISKY_FIELDS = NETWORK_FIELDS | CAPACITY_FIELDS | IMAGE_FIELDS

BIG_CHANGE_FIELDS = 4  # fields added + removed + changed
BIG_CHANGE_LINES = 16  # lines added + removed in the canonical JSON
MANY_DEPENDENTS = 3  # downstream components (direct or transitive)
NOVICE_DEPLOYS = 20  # an author with fewer earlier deploys in the log is a novice

INTERCEPT = -4.0
WEIGHTS = {
    "big_change": 1.3,
    "network_change": 1.7,
    "capacity_change": 0.9,
    "image_change": 1.2,
    "many_dependents": 1.0,
    "upstream_deployed_24h": 0.8,
    "novice_author": 1.4,
    "off_hours": 1.1,
    "weekend": 0.9,
    "first_deploy": 1.5,
    "prod": 0.5,
    "missing_required_field": 2.0,
    "promoted": -0.7,  # tested in an earlier environment first
    # interactions
    "off_hours_x_prod": 1.0,
    "network_change_x_many_dependents": 1.0,
}


def field_kind(path: str) -> str | None:
    """`network`, `capacity` or `image` for a risky field path (by its last segment), else None."""
    name = path.rsplit(".", 1)[-1]
    if name in NETWORK_FIELDS:
        return "network"
    if name in CAPACITY_FIELDS:
        return "capacity"
    if name in IMAGE_FIELDS:
        return "image"
    return None


@dataclass(frozen=True)
class DeployFacts:
    """What is known about a deploy when it is applied (all of it readable from the event log)."""

    action: str  # create, update or promote
    environment: str
    diff: ConfigDiff  # from the component's config before the deploy to the one deployed
    n_affected: int  # downstream components, direct or transitive
    upstream_deployed_24h: bool  # a component this one reads was deployed in the last 24 h
    author_prior_deploys: int
    off_hours: bool
    weekend: bool
    n_missing_fields: int  # required fields of the type absent from the deployed config


def active_causes(f: DeployFacts) -> list[str]:
    found: list[str] = []
    if f.action == "create":
        found.append("first_deploy")
    else:
        size = len(f.diff.added) + len(f.diff.removed) + len(f.diff.changed)
        if size >= BIG_CHANGE_FIELDS or f.diff.lines_added + f.diff.lines_removed >= BIG_CHANGE_LINES:
            found.append("big_change")
        kinds = {field_kind(p) for p in f.diff.added + f.diff.removed + f.diff.changed}
        found += [f"{k}_change" for k in ("network", "capacity", "image") if k in kinds]
    if f.n_affected >= MANY_DEPENDENTS:
        found.append("many_dependents")
    if f.upstream_deployed_24h:
        found.append("upstream_deployed_24h")
    if f.author_prior_deploys < NOVICE_DEPLOYS:
        found.append("novice_author")
    if f.off_hours:
        found.append("off_hours")
    if f.weekend:
        found.append("weekend")
    if f.environment == "prod":
        found.append("prod")
    if f.n_missing_fields:
        found.append("missing_required_field")
    if f.action == "promote":
        found.append("promoted")
    if (f.off_hours or f.weekend) and f.environment == "prod":
        found.append("off_hours_x_prod")
    if "network_change" in found and "many_dependents" in found:
        found.append("network_change_x_many_dependents")
    return found


def rollback_probability(causes: list[str]) -> float:
    logit = INTERCEPT + sum(WEIGHTS[c] for c in causes)
    return 1.0 / (1.0 + math.exp(-logit))


def failure_probability(p_rollback: float) -> float:
    """Chance that the apply itself fails: small, and larger for risky deploys."""
    return 0.01 + 0.2 * p_rollback


ROLLBACK_REASONS = (
    "error rate above SLO", "health checks failing", "latency regression", "manual revert",
    "failed smoke tests", "customer-facing incident", "downstream breakage",
)  # fmt: skip


# (cumulative share, low, high, unit): hours to a few days; a small share more than a week later
ROLLBACK_DELAYS = ((0.55, 0.25, 12, HOUR), (0.85, 0.5, 3, DAY), (0.95, 3, 7, DAY), (1.0, 7, 14, DAY))


def rollback_delay(rng: np.random.Generator) -> int:
    """Seconds from a deploy to its rollback, drawn from `ROLLBACK_DELAYS`."""
    r = rng.random()
    for share, low, high, unit in ROLLBACK_DELAYS:
        if r < share or share == 1.0:
            return int(rng.uniform(low, high) * unit)
    raise AssertionError("unreachable")


def mean_rollback_delay_hours() -> float:
    """The expected value of `rollback_delay`, in hours."""
    out, before = 0.0, 0.0
    for share, low, high, unit in ROLLBACK_DELAYS:
        out += (share - before) * (low + high) / 2 * unit / HOUR
        before = share
    return out
