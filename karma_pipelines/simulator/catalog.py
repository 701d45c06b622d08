"""Component types: the fields each type's Terraform reads, needs, and which types it depends on."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from karma_pipelines.simulator.memo import IdentityCache, flat_of

TAG_FIELDS = ("tags.Project", "tags.Environment", "tags.Owner")


@dataclass(frozen=True)
class TypeSpec:
    """What a component type reads (`fields`, `*` = any one key) and cannot do without."""

    name: str
    fields: tuple[str, ...]
    required: tuple[str, ...]
    deps: tuple[tuple[str, float], ...] = ()  # (producer type, probability of linking to one)
    roles: tuple[str, ...] = ()  # service names for this type
    change_weight: float = 1.0  # how often engineers touch it, relative to others


_ECS_FIELDS = (
    "cluster_nickname", "vpc_nickname", "service_name", "desired_count", "cpu", "memory",
    "platform_version", "assign_public_ip", "health_check_grace_period", "security_groups",
    "db_runtime_path", "container.name", "container.image", "container.port",
    "container.environment", "container.environment.*", "container.secrets",
    "container.secrets.*", "load_balancer.enabled", "load_balancer.target_port",
    "load_balancer.health_check_path",
)  # fmt: skip
_FN = "functions.*."
_LAMBDA_FIELDS = tuple(
    _FN + f
    for f in (
        "runtime", "handler", "memory_size", "timeout", "src_type", "src_nickname",
        "vpc_nickname", "log_retention_days", "artifact", "environment", "environment.*",
    )
)  # fmt: skip
_CLICKHOUSE_FIELDS = (
    "vpc_nickname", "cognito_sso_nickname", "s3_bucket_nickname", "instance_type",
    "clickhouse_version", "data_volume_size", "security_groups", "enable_redpanda",
    "redpanda_version", "redpanda_instance_type", "broker_count", "retention_hours",
    "enable_mongo", "mongo_version", "mongo_instance_type", "replica_count",
)  # fmt: skip

SPECS: dict[str, TypeSpec] = {
    s.name: s
    for s in (
        TypeSpec(
            "vpc",
            ("cidr", "az_count", "enable_ssm_endpoints", "single_nat_gateway", "default_sg_name",
             "default_sg_allow_self", "default_sg_extra_ingress_cidrs", "dhcp_domain_name",
             "dhcp_domain_name_servers"),
            ("cidr", "az_count", "default_sg_name"),
            roles=("net",), change_weight=0.35,
        ),
        TypeSpec(
            "route53-zone", ("zone_name", "comment", "root_records.*"), ("zone_name",),
            roles=("zone",), change_weight=0.3,
        ),
        TypeSpec(
            "s3-bucket",
            ("bucket_name", "versioning", "force_destroy", "enable_encryption", "sse_algorithm",
             "block_public_access", "enforce_owner", "acl"),
            ("bucket_name",),
            roles=("artifacts", "assets", "exports", "uploads", "logs"), change_weight=0.5,
        ),
        TypeSpec(
            "sqs-queue",
            ("queue_name", "fifo", "visibility_timeout", "message_retention_seconds",
             "dlq_enabled", "max_receive_count"),
            ("queue_name",),
            roles=("events", "jobs", "orders", "emails"), change_weight=0.6,
        ),
        TypeSpec(
            "cognito-sso",
            ("user_pool_name", "domain_prefix", "callback_urls", "logout_urls",
             "mfa_configuration", "allowed_oauth_flows", "identity_providers"),
            ("user_pool_name", "domain_prefix", "callback_urls"),
            roles=("sso",), change_weight=0.4,
        ),
        TypeSpec(
            "ecs-cluster",
            ("cluster_name", "vpc_nickname", "enable_execute_command", "exec_logging",
             "create_log_group", "log_retention_days", "enable_container_insights",
             "capacity_providers", "default_capacity_strategy"),
            ("cluster_name", "vpc_nickname"),
            deps=(("vpc", 1.0),), roles=("cluster",), change_weight=0.4,
        ),
        TypeSpec(
            "rds-postgres",
            ("db_name", "engine_version", "instance_class", "allocated_storage", "multi_az",
             "vpc_nickname", "db_username", "db_password", "backup_retention_days",
             "security_groups"),
            ("db_name", "engine_version", "instance_class", "vpc_nickname", "db_username"),
            deps=(("vpc", 1.0),), roles=("db", "ledger-db", "users-db"), change_weight=0.6,
        ),
        TypeSpec(
            "lambda",
            ("functions",) + _LAMBDA_FIELDS,
            tuple(_FN + f for f in ("runtime", "handler", "src_type", "src_nickname", "artifact")),
            deps=(("s3-bucket", 1.0), ("vpc", 0.6), ("sqs-queue", 0.5)),
            roles=("handlers", "jobs", "hooks", "etl", "cron", "resizer"),
        ),
        TypeSpec(
            "ecs-service",
            _ECS_FIELDS,
            ("cluster_nickname", "service_name", "desired_count", "cpu", "memory",
             "container.name", "container.image", "container.port"),
            deps=(("ecs-cluster", 1.0), ("vpc", 1.0), ("rds-postgres", 0.5), ("sqs-queue", 0.4)),
            roles=("api", "worker", "web", "gateway", "scheduler", "ingest", "renderer", "sync"),
            change_weight=1.3,
        ),
        TypeSpec(
            "serverless-api",
            ("api_name", "stage_name", "enable_custom_domain", "domain_name",
             "route53_zone_name", "lambda_nickname"),
            ("api_name", "stage_name"),
            deps=(("lambda", 0.8),), roles=("public-api", "partner-api", "admin-api"),
        ),
        TypeSpec(
            "serverless-site",
            ("site_name", "content_bucket_prefix", "cloudfront_comment", "enable_custom_domain",
             "domain_aliases", "route53_zone_name"),
            ("site_name", "content_bucket_prefix"),
            roles=("site", "docs", "status"), change_weight=0.8,
        ),
        TypeSpec(
            "grafana",
            ("vpc_nickname", "ecs_cluster_nickname", "cognito_sso_nickname", "grafana_version",
             "desired_count", "cpu", "memory", "admin_user", "admin_password", "plugins"),
            ("vpc_nickname", "ecs_cluster_nickname", "cognito_sso_nickname", "admin_user"),
            deps=(("vpc", 1.0), ("ecs-cluster", 1.0), ("cognito-sso", 1.0)),
            roles=("grafana",), change_weight=0.6,
        ),
        TypeSpec(
            "clickhouse",
            _CLICKHOUSE_FIELDS,
            ("vpc_nickname", "cognito_sso_nickname", "instance_type"),
            deps=(("vpc", 1.0), ("cognito-sso", 1.0), ("s3-bucket", 0.7)),
            roles=("warehouse",), change_weight=0.7,
        ),
    )
}  # fmt: skip

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
    return any(_matches(pat, path) for pat in SPECS[type_name].fields)


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
