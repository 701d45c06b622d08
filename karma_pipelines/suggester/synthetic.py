"""A realistic generated Karma corpus (configs, history, planted mistakes) and the Terraform that reads
it, for tests and benchmarks of the suggester.

What makes it realistic (and what each kind of evidence can learn from):
- component types from Karma's repositories, with required fields (read without a default),
  optional ones (read with `try`), feature-flag groups (`enable_redpanda` + `redpanda_*`), fields set
  together, prod-only and dev-only fields, fields that follow a dependency (an ECS service that uses
  a database has `db_runtime_path` and a `DB_PASSWORD` secret), user-named maps (lambda
  `functions.<name>.*`, container environment variables, DNS root records) and fields nothing reads
  (`index_document` on serverless-site, `openapi` on serverless-api, as in Karma's own repositories);
- teams have house styles (the optional fields they always or never set), and a service looks alike
  in its environments, with some drift;
- mistakes: a required field left out, a misspelt or foreign field added, sometimes promoted to every
  environment of the service; the history fixes some and adds fields teams adopt.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from karma_pipelines.config_fields import flatten, unflatten
from karma_pipelines.suggester.corpus import Corpus, corpus_from_configs
from karma_pipelines.suggester.names import misspell

ENVS = ("dev", "staging", "prod")


@dataclass(frozen=True)
class F:
    """A config field of a type. kind: req | opt | style | env | dep | group | with | legacy."""

    name: str
    kind: str = "opt"
    p: float = 0.5
    arg: Any = None  # env: {env: p}; dep: producer type; group: flag; with: other field


def _fields(*specs: tuple) -> tuple[F, ...]:
    return tuple(F(*s) for s in specs)


TYPES: dict[str, dict[str, Any]] = {
    "vpc": {
        "fields": _fields(
            ("cidr", "req"),
            ("az_count", "req"),
            ("default_sg_name", "req"),
            ("enable_ssm_endpoints", "style", 0.9),
            ("single_nat_gateway", "env", 0, {"dev": 0.95, "staging": 0.7}),
            ("default_sg_allow_self", "opt", 0.5),
            ("default_sg_extra_ingress_cidrs", "opt", 0.25),
            ("dhcp_domain_name", "style", 0.85),
            ("dhcp_domain_name_servers", "with", 0.9, "dhcp_domain_name"),
            ("flow_logs_enabled", "env", 0, {"prod": 0.9, "staging": 0.3}),
            ("flow_logs_retention_days", "with", 0.95, "flow_logs_enabled"),
            ("enable_ipv6", "opt", 0.1),
            ("enable_dns_hostnames", "style", 0.8),
            ("enable_dns_support", "with", 0.95, "enable_dns_hostnames"),
            ("public_subnet_cidrs", "style", 0.6),
            ("private_subnet_cidrs", "with", 0.95, "public_subnet_cidrs"),
            ("database_subnet_cidrs", "opt", 0.3),
            ("enable_vpn_gateway", "opt", 0.1),
            ("vpc_endpoints", "opt", 0.3),
        ),
        "maps": {},
    },
    "route53-zone": {
        "fields": _fields(
            ("zone_name", "req"),
            ("comment", "style", 0.9),
            ("force_destroy", "env", 0, {"dev": 0.8}),
            ("enable_dnssec", "env", 0.05, {"prod": 0.5}),
            ("delegation_set_id", "opt", 0.15),
            ("query_logging_enabled", "env", 0, {"prod": 0.4}),
        ),
        "maps": {"root_records": (("MX", 0.7), ("TXT", 0.8), ("CAA", 0.3), ("SPF", 0.2))},
    },
    "s3-bucket": {
        "fields": _fields(
            ("bucket_name", "req"),
            ("versioning", "env", 0.4, {"prod": 0.95}),
            ("force_destroy", "env", 0, {"dev": 0.9}),
            ("enable_encryption", "style", 0.95),
            ("sse_algorithm", "with", 0.9, "enable_encryption"),
            ("kms_key_alias", "opt", 0.15),
            ("block_public_access", "style", 0.9),
            ("enforce_owner", "style", 0.8),
            ("acl", "opt", 0.3),
            ("lifecycle_expiration_days", "opt", 0.3),
            ("lifecycle_transition_days", "with", 0.7, "lifecycle_expiration_days"),
            ("replication_bucket", "env", 0, {"prod": 0.35}),
            ("object_lock_enabled", "opt", 0.05),
            ("cors_rules", "opt", 0.2),
            ("website_enabled", "opt", 0.1),
            ("website_index_document", "with", 0.95, "website_enabled"),
            ("logging_bucket", "env", 0.05, {"prod": 0.5}),
            ("logging_prefix", "with", 0.9, "logging_bucket"),
            ("intelligent_tiering", "opt", 0.2),
            ("notification_queue_runtime_path", "dep", 0.3, "sqs-queue"),
        ),
        "maps": {},
    },
    "sqs-queue": {
        "fields": _fields(
            ("queue_name", "req"),
            ("fifo", "opt", 0.25),
            ("content_based_deduplication", "with", 0.9, "fifo"),
            ("visibility_timeout", "style", 0.9),
            ("message_retention_seconds", "style", 0.7),
            ("dlq_enabled", "style", 0.8),
            ("max_receive_count", "with", 0.95, "dlq_enabled"),
            ("redrive_allow_policy", "with", 0.3, "dlq_enabled"),
            ("kms_key_alias", "opt", 0.15),
            ("alarm_queue_depth", "env", 0, {"prod": 0.8}),
            ("alarm_sns_topic", "with", 0.9, "alarm_queue_depth"),
            ("delay_seconds", "opt", 0.2),
            ("receive_wait_time_seconds", "style", 0.5),
            ("max_message_size", "opt", 0.15),
        ),
        "maps": {},
    },
    "cognito-sso": {
        "fields": _fields(
            ("user_pool_name", "req"),
            ("domain_prefix", "req"),
            ("callback_urls", "req"),
            ("logout_urls", "style", 0.9),
            ("mfa_configuration", "env", 0.3, {"prod": 0.95}),
            ("allowed_oauth_flows", "style", 0.8),
            ("identity_providers", "opt", 0.6),
            ("google_client_id", "group", 0.0, "google"),
            ("google_client_secret", "group", 0.0, "google"),
            ("password_min_length", "opt", 0.3),
            ("access_token_validity", "style", 0.5),
            ("refresh_token_validity", "with", 0.9, "access_token_validity"),
            ("id_token_validity", "with", 0.9, "access_token_validity"),
            ("advanced_security_mode", "env", 0, {"prod": 0.6}),
            ("email_sending_account", "opt", 0.3),
            ("ses_from_address", "with", 0.9, "email_sending_account"),
        ),
        "maps": {},
        "groups": {"google": 0.4},
    },
    "ecs-cluster": {
        "fields": _fields(
            ("cluster_name", "req"),
            ("vpc_nickname", "dep", 1.0, "vpc"),
            ("enable_execute_command", "env", 0.3, {"dev": 0.9}),
            ("exec_logging", "with", 0.9, "enable_execute_command"),
            ("create_log_group", "style", 0.9),
            ("log_retention_days", "style", 0.9),
            ("enable_container_insights", "env", 0.2, {"prod": 0.9}),
            ("capacity_providers", "style", 0.8),
            ("default_capacity_strategy", "with", 0.9, "capacity_providers"),
            ("spot_weight", "with", 0.4, "capacity_providers"),
            ("service_connect_namespace", "opt", 0.25),
            ("kms_key_alias", "opt", 0.15),
        ),
        "maps": {},
    },
    "rds-postgres": {
        "fields": _fields(
            ("db_name", "req"),
            ("engine_version", "req"),
            ("instance_class", "req"),
            ("vpc_nickname", "dep", 1.0, "vpc"),
            ("db_username", "req"),
            ("allocated_storage", "style", 0.9),
            ("max_allocated_storage", "opt", 0.3),
            ("multi_az", "env", 0.1, {"prod": 0.95}),
            ("backup_retention_days", "env", 0.3, {"prod": 0.95}),
            ("backup_window", "with", 0.8, "backup_retention_days"),
            ("maintenance_window", "style", 0.7),
            ("deletion_protection", "env", 0.05, {"prod": 0.9}),
            ("performance_insights", "env", 0.1, {"prod": 0.6}),
            ("security_groups", "style", 0.8),
            ("parameter_group_family", "opt", 0.3),
            ("storage_type", "opt", 0.5),
            ("iops", "with", 0.4, "storage_type"),
            ("storage_encrypted", "style", 0.9),
            ("kms_key_alias", "with", 0.4, "storage_encrypted"),
            ("monitoring_interval", "env", 0.05, {"prod": 0.6}),
            ("auto_minor_version_upgrade", "style", 0.6),
            ("apply_immediately", "env", 0.1, {"dev": 0.6}),
            ("skip_final_snapshot", "env", 0.05, {"dev": 0.8}),
            ("final_snapshot_identifier", "env", 0, {"prod": 0.7}),
            ("iam_database_authentication", "opt", 0.3),
            ("ca_cert_identifier", "opt", 0.2),
            ("read_replica_count", "env", 0, {"prod": 0.2}),
        ),
        "maps": {},
    },
    "lambda": {
        "fields": _fields(("log_retention_days", "style", 0.6), ("layers_bucket", "opt", 0.2)),
        "maps": {"functions": "lambda"},
    },
    "ecs-service": {
        "fields": _fields(
            ("cluster_nickname", "dep", 1.0, "ecs-cluster"),
            ("vpc_nickname", "dep", 1.0, "vpc"),
            ("service_name", "req"),
            ("desired_count", "req"),
            ("cpu", "req"),
            ("memory", "req"),
            ("platform_version", "style", 0.6),
            ("assign_public_ip", "style", 0.7),
            ("health_check_grace_period", "style", 0.8),
            ("security_groups", "style", 0.8),
            ("db_runtime_path", "dep", 0.95, "rds-postgres"),
            ("queue_runtime_path", "dep", 0.9, "sqs-queue"),
            ("autoscaling_min", "env", 0.05, {"prod": 0.8}),
            ("autoscaling_max", "with", 0.95, "autoscaling_min"),
            ("autoscaling_cpu_target", "with", 0.8, "autoscaling_min"),
            ("deployment_minimum_healthy_percent", "style", 0.8),
            ("deployment_maximum_percent", "with", 0.9, "deployment_minimum_healthy_percent"),
            ("enable_circuit_breaker", "style", 0.7),
            ("circuit_breaker_rollback", "with", 0.9, "enable_circuit_breaker"),
            ("propagate_tags", "style", 0.6),
            ("enable_ecs_managed_tags", "with", 0.8, "propagate_tags"),
            ("task_role_policy_arns", "opt", 0.4),
            ("execution_role_policy_arns", "opt", 0.3),
            ("ephemeral_storage_gb", "opt", 0.1),
            ("runtime_platform.cpu_architecture", "style", 0.4),
            ("runtime_platform.os_family", "with", 0.95, "runtime_platform.cpu_architecture"),
            ("service_discovery.namespace", "opt", 0.25),
            ("service_discovery.name", "with", 0.95, "service_discovery.namespace"),
            ("log_retention_days", "style", 0.8),
            ("container.name", "req"),
            ("container.image", "req"),
            ("container.port", "req"),
            ("container.command", "opt", 0.15),
            ("container.health_check", "style", 0.7),
            ("container.readonly_root_filesystem", "style", 0.5),
            ("container.stop_timeout", "opt", 0.2),
            ("container.ulimits", "opt", 0.1),
            ("container.mount_points", "opt", 0.15),
            ("load_balancer.enabled", "opt", 0.75),
            ("load_balancer.target_port", "with", 0.95, "load_balancer.enabled"),
            ("load_balancer.health_check_path", "with", 0.9, "load_balancer.enabled"),
            ("load_balancer.certificate_arn", "env", 0.0, {"prod": 0.6, "staging": 0.3}),
            ("load_balancer.idle_timeout", "with", 0.3, "load_balancer.enabled"),
            ("sidecars.datadog.enabled", "group", 0.0, "datadog"),
            ("sidecars.datadog.site", "group", 0.0, "datadog"),
            ("sidecars.datadog.api_key_path", "group", 0.0, "datadog"),
            ("enable_xray", "group", 0.0, "tracing"),
            ("xray_sampling_rate", "group", 0.0, "tracing"),
        ),
        "maps": {"container.environment": "env_vars", "container.secrets": "secrets"},
        "groups": {"datadog": 0.25, "tracing": 0.2},
    },
    "serverless-api": {
        "fields": _fields(
            ("api_name", "req"),
            ("stage_name", "req"),
            ("enable_custom_domain", "env", 0.3, {"prod": 0.9}),
            ("domain_name", "with", 0.95, "enable_custom_domain"),
            ("route53_zone_name", "with", 0.9, "enable_custom_domain"),
            ("lambda_nickname", "dep", 0.9, "lambda"),
            ("throttling_rate_limit", "style", 0.6),
            ("throttling_burst_limit", "with", 0.9, "throttling_rate_limit"),
            ("cors_allowed_origins", "opt", 0.4),
            ("access_log_format", "style", 0.5),
            ("access_log_retention_days", "with", 0.8, "access_log_format"),
            ("waf_acl_arn", "env", 0, {"prod": 0.4}),
            ("authorizer_type", "opt", 0.5),
            ("cognito_sso_nickname", "dep", 0.6, "cognito-sso"),
            ("api_key_required", "opt", 0.2),
            ("usage_plan_quota", "with", 0.9, "api_key_required"),
            ("openapi", "legacy", 0.4),
        ),
        "maps": {},
    },
    "serverless-site": {
        "fields": _fields(
            ("site_name", "req"),
            ("content_bucket_prefix", "req"),
            ("cloudfront_comment", "style", 0.8),
            ("enable_custom_domain", "env", 0.3, {"prod": 0.9}),
            ("domain_aliases", "with", 0.8, "enable_custom_domain"),
            ("route53_zone_name", "with", 0.95, "enable_custom_domain"),
            ("price_class", "opt", 0.3),
            ("spa_fallback", "opt", 0.4),
            ("cache_default_ttl", "style", 0.5),
            ("cache_max_ttl", "with", 0.9, "cache_default_ttl"),
            ("waf_acl_arn", "env", 0, {"prod": 0.3}),
            ("security_headers", "style", 0.6),
            ("index_document", "legacy", 0.3),
            ("error_document", "with", 0.95, "index_document"),
        ),
        "maps": {},
    },
    "grafana": {
        "fields": _fields(
            ("vpc_nickname", "dep", 1.0, "vpc"),
            ("ecs_cluster_nickname", "dep", 1.0, "ecs-cluster"),
            ("cognito_sso_nickname", "dep", 1.0, "cognito-sso"),
            ("grafana_version", "req"),
            ("admin_user", "req"),
            ("desired_count", "style", 0.7),
            ("cpu", "style", 0.8),
            ("memory", "with", 0.95, "cpu"),
            ("plugins", "opt", 0.5),
            ("grafana_domain", "style", 0.6),
            ("anonymous_access", "opt", 0.2),
            ("clickhouse_nickname", "dep", 0.6, "clickhouse"),
            ("smtp_host", "group", 0.0, "smtp"),
            ("smtp_user", "group", 0.0, "smtp"),
            ("smtp_from", "group", 0.0, "smtp"),
        ),
        "maps": {},
        "groups": {"smtp": 0.4},
    },
    "clickhouse": {
        "fields": _fields(
            ("vpc_nickname", "dep", 1.0, "vpc"),
            ("cognito_sso_nickname", "dep", 1.0, "cognito-sso"),
            ("s3_bucket_nickname", "dep", 0.9, "s3-bucket"),
            ("s3_bucket_prefix", "with", 0.95, "s3_bucket_nickname"),
            ("instance_type", "req"),
            ("clickhouse_version", "style", 0.9),
            ("ebs_size_gb", "style", 0.8),
            ("ebs_type", "opt", 0.5),
            ("ebs_iops", "with", 0.8, "ebs_type"),
            ("ebs_throughput", "with", 0.8, "ebs_type"),
            ("http_port", "opt", 0.3),
            ("tcp_port", "with", 0.9, "http_port"),
            ("allowed_cidrs", "opt", 0.3),
            ("allowed_security_group_ids", "style", 0.6),
            ("grafana_url", "opt", 0.4),
            ("grafana_admin", "with", 0.6, "grafana_url"),
            ("prometheus_url", "opt", 0.4),
            ("prometheus_ds_name", "with", 0.8, "prometheus_url"),
            ("key_name", "opt", 0.2),
            ("backup_schedule", "env", 0, {"prod": 0.7}),
            ("backup_retention_days", "with", 0.9, "backup_schedule"),
            ("enable_redpanda", "group", 0.0, "redpanda"),
            ("redpanda_version", "group", 0.0, "redpanda"),
            ("redpanda_instance_type", "group", 0.0, "redpanda"),
            ("redpanda_topic", "group", 0.0, "redpanda"),
            ("redpanda_partitions", "group", 0.0, "redpanda"),
            ("redpanda_retention_hours", "group", 0.0, "redpanda"),
            ("enable_mongo", "group", 0.0, "mongo"),
            ("mongo_version", "group", 0.0, "mongo"),
            ("mongo_instance_type", "group", 0.0, "mongo"),
            ("mongo_replica_count", "group", 0.0, "mongo"),
            ("mongo_port", "group", 0.0, "mongo"),
            ("enable_kafka_connect", "group", 0.0, "kconnect"),
            ("kconnect_version", "group", 0.0, "kconnect"),
            ("kconnect_workers", "group", 0.0, "kconnect"),
        ),
        "maps": {},
        "groups": {"redpanda": 0.5, "mongo": 0.4, "kconnect": 0.3},
    },
    "eks-cluster": {
        "fields": _fields(
            ("cluster_name", "req"),
            ("kubernetes_version", "req"),
            ("vpc_nickname", "dep", 1.0, "vpc"),
            ("endpoint_public_access", "env", 0.3, {"dev": 0.8}),
            ("enabled_log_types", "style", 0.7),
            ("cluster_log_retention_days", "with", 0.8, "enabled_log_types"),
            ("node_instance_types", "req"),
            ("node_min_size", "style", 0.9),
            ("node_max_size", "with", 0.95, "node_min_size"),
            ("node_desired_size", "with", 0.8, "node_min_size"),
            ("node_disk_size", "opt", 0.4),
            ("node_capacity_type", "env", 0.1, {"dev": 0.6}),
            ("enable_irsa", "style", 0.8),
            ("fargate_profiles", "opt", 0.15),
            ("addons_vpc_cni", "group", 0.0, "addons"),
            ("addons_coredns", "group", 0.0, "addons"),
            ("addons_kube_proxy", "group", 0.0, "addons"),
            ("karpenter_enabled", "group", 0.0, "karpenter"),
            ("karpenter_version", "group", 0.0, "karpenter"),
        ),
        "maps": {},
        "groups": {"addons": 0.6, "karpenter": 0.3},
    },
}
FOUNDATION = ("vpc", "ecs-cluster", "s3-bucket", "route53-zone")
SERVICE_MIX = {
    "ecs-service": 5.0, "lambda": 3.0, "s3-bucket": 1.5, "sqs-queue": 1.5, "rds-postgres": 1.2,
    "serverless-api": 1.0, "serverless-site": 1.0, "cognito-sso": 0.4, "grafana": 0.4, "clickhouse": 0.4,
    "eks-cluster": 0.3,
}  # fmt: skip
ROLES = (
    "api",
    "web",
    "worker",
    "sync",
    "ingest",
    "jobs",
    "admin",
    "events",
    "media",
    "search",
    "auth",
    "billing",
)
FUNCTION_NAMES = (
    "api",
    "worker",
    "cron",
    "webhook",
    "resize",
    "notify",
    "ingest",
    "export",
    "digest",
    "cleanup",
)
FUNCTION_FIELDS = _fields(
    ("runtime", "req"), ("handler", "req"), ("artifact", "req"), ("memory_size", "style", 0.8),
    ("timeout", "style", 0.8), ("src_type", "with", 1.0, "src_nickname"),
    ("src_nickname", "dep", 0.9, "s3-bucket"),
    ("vpc_nickname", "dep", 0.7, "vpc"), ("log_retention_days", "style", 0.5),
    ("reserved_concurrency", "opt", 0.15), ("architectures", "style", 0.5), ("layers", "opt", 0.3),
    ("tracing_mode", "style", 0.4), ("dead_letter_target", "opt", 0.2), ("ephemeral_storage", "opt", 0.1),
    ("schedule_expression", "opt", 0.25), ("event_queue_runtime_path", "dep", 0.5, "sqs-queue"),
    ("description", "style", 0.6), ("provisioned_concurrency", "env", 0, {"prod": 0.3}),
    ("alias_name", "with", 0.9, "provisioned_concurrency"),
)  # fmt: skip
ENV_VARS = ("LOG_LEVEL", "CACHE_TTL_SECONDS", "RETRY_LIMIT", "WORKER_CONCURRENCY", "REQUEST_TIMEOUT_MS",
            "SENTRY_DSN_PATH", "FEATURE_NEW_CHECKOUT", "FEATURE_FAST_PATH", "REGION", "METRICS_NAMESPACE",
            "OTEL_EXPORTER", "TRACE_SAMPLE_RATE")  # fmt: skip
SECRETS = ("API_KEY", "JWT_SIGNING_KEY", "STRIPE_SECRET", "OAUTH_CLIENT_SECRET", "SLACK_WEBHOOK")
DNS_RECORDS = ("MX", "TXT", "CAA", "SPF")


@dataclass
class Service:
    project: str
    ctype: str
    name: str
    envs: tuple[str, ...]
    refs: dict[str, dict[str, str]]  # env -> producer type -> nickname
    seed: int


@dataclass
class SyntheticWorld:
    """Configs now and before, the planted mistakes still present now, and the Terraform."""

    configs: list[dict[str, Any]]  # component, component_type, environment, config (now)
    before: list[dict[str, Any]]  # the same components earlier (before fixes and adoptions)
    mistakes: pd.DataFrame  # component, environment, field, kind (missing | unused), cause
    terraform: dict[str, str] = field(default_factory=dict)  # relative path -> .tf text

    def corpus(self) -> Corpus:
        return corpus_from_configs(self.configs, source="synthetic")

    def corpus_before(self) -> Corpus:
        return corpus_from_configs(self.before, source="synthetic (before)")

    def snapshots(self) -> pd.DataFrame:
        """Both versions as `config_snapshots` rows (before at t0, now at t1)."""
        from karma_pipelines.records.from_events import snapshot_row

        rows = []
        for stamp, items in (("2026-01-01", self.before), ("2026-04-01", self.configs)):
            ts = pd.Timestamp(stamp, tz="UTC")
            for i, item in enumerate(items):
                row = snapshot_row(
                    f"syn-{stamp}-{i:05d}", ts, item["component"], item["environment"], item["config"]
                )
                rows.append(row)
        from karma_pipelines.schema import CONFIG_SNAPSHOTS

        return CONFIG_SNAPSHOTS.conform(pd.DataFrame(rows))

    def write(self, root: Path | str) -> Path:
        """`configs/iac/<env>/<type>/<nickname>/config.json` and `terraform/components/<type>/*.tf`."""
        root = Path(root)
        for item in self.configs:
            ctype, _, nickname = item["component"].partition("/")
            path = root / "configs" / "iac" / item["environment"] / ctype / nickname / "config.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(item["config"], indent=2, sort_keys=True) + "\n", encoding="utf-8")
        for rel, text in self.terraform.items():
            path = root / "terraform" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        return root


def _value(name: str, rng: np.random.Generator) -> Any:
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


def _decide(spec: F, env: str, service_draw: float, env_draw: float, style: dict[str, bool]) -> bool:
    if spec.kind == "req":
        return True
    if spec.kind in ("opt", "legacy"):
        return service_draw < spec.p
    if spec.kind == "style":
        return service_draw < (spec.p if style.get(spec.name, False) else 0.08)
    if spec.kind == "env":
        return env_draw < spec.arg.get(env, spec.p)
    return False


def _fields_of(
    specs: tuple[F, ...],
    env: str,
    refs: dict[str, str],
    rng: np.random.Generator,
    shape: np.random.Generator,
    style: dict[str, bool],
    groups: dict[str, float],
    drift: float,
) -> list[str]:
    """Field names of one config: service-level draws from `shape` (shared by twins), env-level from `rng`."""
    chosen: set[str] = set()
    draws = {s.name: float(shape.random()) for s in specs}
    group_on = {g: shape.random() < p for g, p in sorted(groups.items())}
    for spec in specs:
        service_draw = draws[spec.name]
        if rng.random() < drift:  # this environment drifted from the service's shape
            service_draw = float(rng.random())
        env_draw = float((shape.random() + rng.random()) / 2) if spec.kind == "env" else 0.0
        if spec.kind == "dep":
            on = spec.arg in refs and service_draw < spec.p
        elif spec.kind == "group":
            on = group_on.get(spec.arg, False)
        elif spec.kind == "with":
            on = False
        else:
            on = _decide(spec, env, service_draw, env_draw, style)
        if on:
            chosen.add(spec.name)
    for spec in specs:  # fields set together with another one
        if spec.kind == "with" and spec.arg in chosen and draws[spec.name] < spec.p:
            chosen.add(spec.name)
    return sorted(chosen)


def _map_fields(
    kind: Any, prefix: str, env: str, refs: dict[str, str], rng, shape, style: dict[str, bool], drift: float
) -> list[str]:
    out: list[str] = []
    if kind == "lambda":
        n = int(shape.integers(1, 5))
        names = [FUNCTION_NAMES[i] for i in sorted(shape.choice(len(FUNCTION_NAMES), n, replace=False))]
        for name in names:
            seed = int(shape.integers(1 << 30))
            fn_shape = np.random.default_rng(seed)
            fields = _fields_of(FUNCTION_FIELDS, env, refs, rng, fn_shape, style, {}, drift)
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
    out = [f"{prefix}.{name}" for name, p in kind if shape.random() < p]
    return out


def _style(project_rng: np.random.Generator) -> dict[str, bool]:
    style = {}
    for spec in TYPES.values():
        for f in spec["fields"]:
            if f.kind == "style":
                style[f.name] = bool(project_rng.random() < 0.6)
    for f in FUNCTION_FIELDS:
        if f.kind == "style":
            style[f.name] = bool(project_rng.random() < 0.6)
    for v in ENV_VARS:
        style[f"env:{v}"] = bool(project_rng.random() < 0.35)
    return style


def _plan(rng: np.random.Generator, n_configs: int) -> tuple[list[Service], dict[str, dict[str, bool]]]:
    services: list[Service] = []
    styles: dict[str, dict[str, bool]] = {}
    types, weights = list(SERVICE_MIX), np.array(list(SERVICE_MIX.values()))
    total, p = 0, 0
    while total < n_configs:
        project = f"proj{p:02d}"
        p += 1
        styles[project] = _style(np.random.default_rng(int(rng.integers(1 << 30))))
        foundation = {t: f"{project}-{t.split('-')[0]}" for t in FOUNDATION}
        plan = [(t, foundation[t].removeprefix(f"{project}-")) for t in FOUNDATION]
        plan += [
            (str(t), "") for t in rng.choice(types, size=int(rng.integers(6, 14)), p=weights / weights.sum())
        ]
        producers: dict[str, str] = {t: n for t, n in foundation.items()}
        taken: set[str] = set()
        for ctype, role in plan:
            role = role or ROLES[int(rng.integers(len(ROLES)))]
            name, i = f"{project}-{role}", 2
            while (ctype, name) in taken:
                name, i = f"{project}-{role}{i}", i + 1
            taken.add((ctype, name))
            draw = rng.random()
            envs = (
                ENVS if draw < 0.6 or ctype in FOUNDATION else (("dev", "prod") if draw < 0.85 else ("dev",))
            )
            refs = {}
            for env in envs:
                refs[env] = {t: f"{n}-{env}" for t, n in producers.items() if t != ctype}
            services.append(Service(project, ctype, name, envs, refs, int(rng.integers(1 << 30))))
            if (
                ctype in ("rds-postgres", "sqs-queue", "lambda", "cognito-sso", "clickhouse")
                and rng.random() < 0.6
            ):
                producers[ctype] = name
            total += len(envs)
    return services, styles


def _config(svc: Service, env: str, styles, drift: float) -> list[str]:
    spec = TYPES[svc.ctype]
    shape = np.random.default_rng(svc.seed)
    rng = np.random.default_rng([svc.seed, ENVS.index(env)])
    refs = svc.refs[env]
    # Links the service does not use are dropped, per service (consumers of a queue, a database, ...).
    used = {t: n for t, n in refs.items() if t in ("vpc", "ecs-cluster", "s3-bucket") or shape.random() < 0.5}
    fields = _fields_of(
        spec["fields"], env, used, rng, shape, styles[svc.project], spec.get("groups", {}), drift
    )
    for prefix, kind in spec["maps"].items():
        fields += _map_fields(kind, prefix, env, used, rng, shape, styles[svc.project], drift)
    fields += ["tags.Project", "tags.Environment", "tags.Owner"]
    if styles[svc.project].get("enable_ssm_endpoints"):  # a house tag
        fields.append("tags.CostCenter")
    return sorted(set(fields))


def _materialize(fields: list[str], refs: dict[str, str], rng: np.random.Generator) -> dict[str, Any]:
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
            flat[name] = _value(name, rng)
    return unflatten(flat)


def _mistake(
    rng: np.random.Generator, fields: list[str], ctype: str, required: list[str], foreign: list[str]
) -> tuple[list[str], str, str, str] | None:
    """One planted mistake: (new fields, field, kind, cause)."""
    if rng.random() < 0.5:
        options = [f for f in fields if f in required]
        if not options:
            return None
        name = options[int(rng.integers(len(options)))]
        return [f for f in fields if f != name], name, "missing", "required field left out"
    if rng.random() < 0.5 and foreign:
        name = foreign[int(rng.integers(len(foreign)))]
        cause = "field of another component type"
    else:
        source = [f for f in fields if not f.startswith("tags.") and len(f.rpartition(".")[2]) >= 4]
        if not source:
            return None
        name = misspell(rng, source[int(rng.integers(len(source)))])
        cause = "misspelt field name"
    if name in fields or any(f.startswith(name + ".") or name.startswith(f + ".") for f in fields):
        return None
    return sorted([*fields, name]), name, "unused", cause


def _required(ctype: str, fields: list[str]) -> list[str]:
    req = [f.name for f in TYPES[ctype]["fields"] if f.kind == "req"]
    if ctype == "lambda":
        fns = sorted({f.split(".")[1] for f in fields if f.startswith("functions.")})
        req += [f"functions.{n}.{x.name}" for n in fns for x in FUNCTION_FIELDS if x.kind == "req"]
    return req + ["tags.Project", "tags.Environment", "tags.Owner"]


def generate_world(
    n_configs: int = 1500, seed: int = 5, mistake_rate: float = 0.04, drift: float = 0.05
) -> SyntheticWorld:
    """About `n_configs` component configs (now and before), planted mistakes and the Terraform."""
    rng = np.random.default_rng(seed)
    services, styles = _plan(rng, n_configs)
    foreign_of = {
        t: sorted({f.name for o, s in TYPES.items() if o != t for f in s["fields"] if "." not in f.name}
                  - {f.name for f in s_["fields"]} - {"vpc_nickname"})
        for t, s_ in TYPES.items()
    }  # fmt: skip
    before, now, planted = [], [], []
    adopt = {  # style fields a team adopts between `before` and now
        p: {
            t: [f.name for f in s["fields"] if f.kind == "style" and rng.random() < 0.15]
            for t, s in TYPES.items()
        }
        for p in styles
    }
    for svc in services:
        mrng = np.random.default_rng([svc.seed, 99])
        shared = None
        if mrng.random() < mistake_rate * len(svc.envs) * 0.5:  # a mistake promoted through every env
            shared = mrng.random()
        for env in svc.envs:
            fields = _config(svc, env, styles, drift)
            component = f"{svc.ctype}/{svc.name}-{env}"
            fields_now = list(fields)
            cause = None
            draw = shared if shared is not None else (mrng.random() if mrng.random() < mistake_rate else None)
            if draw is not None:
                made = _mistake(np.random.default_rng([svc.seed, 7, int(draw * 1e6)]), fields, svc.ctype,
                                _required(svc.ctype, fields), foreign_of[svc.ctype])  # fmt: skip
                if made:
                    fields_now, name, kind, cause = made
            # Before: some fields adopted later were not set yet, some mistakes were still there.
            fields_before = [
                f for f in fields_now if f not in adopt[svc.project][svc.ctype] or mrng.random() < 0.3
            ]
            if cause is None and mrng.random() < 0.08:
                old = _mistake(mrng, fields, svc.ctype, _required(svc.ctype, fields), foreign_of[svc.ctype])
                if old:
                    fields_before = old[0]  # a mistake fixed since
            if cause is not None:
                planted.append(
                    {"component": component, "environment": env, "field": name, "kind": kind, "cause": cause}
                )
            for f in fields_now:
                legacy = next(
                    (s for s in TYPES[svc.ctype]["fields"] if s.name == f and s.kind == "legacy"), None
                )
                if legacy or (f == "error_document" and "index_document" in fields_now):
                    planted.append({"component": component, "environment": env, "field": f, "kind": "unused",
                                    "cause": "set, never read by the Terraform"})  # fmt: skip
            vrng = np.random.default_rng([svc.seed, 3, ENVS.index(env)])
            now.append({"component": component, "component_type": svc.ctype, "environment": env,
                        "config": _materialize(fields_now, svc.refs[env], vrng)})  # fmt: skip
            before.append({"component": component, "component_type": svc.ctype, "environment": env,
                           "config": _materialize(fields_before, svc.refs[env], vrng)})  # fmt: skip
    mistakes = pd.DataFrame(planted, columns=["component", "environment", "field", "kind", "cause"])
    return SyntheticWorld(now, before, mistakes.drop_duplicates(["component", "field"]), terraform())


def corpus_fields(world: SyntheticWorld) -> dict[str, set[str]]:
    return {item["component"]: set(flatten(item["config"])) for item in world.configs}


# --- the Terraform ---------------------------------------------------------------------------------------

_HEADER = """data "aws_ssm_parameter" "config" {{
  name = "${{var.iac_prefix}}/{ctype}/${{var.nickname}}/config"
}}

locals {{
  {local} = jsondecode(nonsensitive(data.aws_ssm_parameter.config.value))
  tags = merge({{ Component = "{ctype}", Nickname = var.nickname }}, try(local.{local}.tags, {{}}))
}}
"""


def _tf_expr(name: str, spec: F, local: str, i: int) -> str:
    """How a field is read, in the styles found in Karma's repositories."""
    path = f"local.{local}.{name}"
    if spec.kind == "req":
        return f'local.{local}["{name}"]' if i % 5 == 0 and "." not in name else path
    if i % 3 == 0 and "." not in name:
        return f'lookup(local.{local}, "{name}", null)'
    return f"try({path}, null)"


def _type_terraform(ctype: str, spec: dict[str, Any], i: int) -> dict[str, str]:
    local = "cfg" if i % 3 == 1 else "config"
    lines = [_HEADER.format(ctype=ctype, local=local), "locals {"]
    body = ['resource "terraform_data" "component" {', "  input = {"]
    groups: dict[str, list[F]] = {}
    for j, f in enumerate(spec["fields"]):
        if f.kind == "legacy" or (
            f.kind == "with" and f.arg in {g.name for g in spec["fields"] if g.kind == "legacy"}
        ):
            continue  # set in configs, read nowhere
        if f.kind == "group":
            groups.setdefault(f.arg, []).append(f)
            continue
        key = f.name.replace(".", "_")
        body.append(f"    {key} = {_tf_expr(f.name, f, local, j)}")
    lines.append("}")
    body += ["    tags = local.tags", "  }", "}"]
    out = ["\n".join(lines), "\n".join(body)]
    for g, fields in sorted(groups.items()):
        flag = next((f for f in fields if f.name.startswith("enable_")), None)
        cond = f"try(local.{local}.{flag.name}, false)" if flag else f"can(local.{local}.{fields[0].name})"
        block = [f'resource "terraform_data" "{g}" {{', f"  count = {cond} ? 1 : 0", "  input = {"]
        block += [f"    {f.name} = local.{local}.{f.name}" for f in fields if f is not flag]
        block += ["  }", "}"]
        out.append("\n".join(block))
    for prefix, kind in spec["maps"].items():
        if kind == "lambda":
            out.append(
                "locals {\n"
                f"  functions = try(local.{local}.functions, {{}})\n"
                "  with_vpc  = {\n"
                '    for name, fn in local.functions : name => fn if try(fn.vpc_nickname, "") != ""\n'
                "  }\n"
                "}\n"
                'resource "terraform_data" "function" {\n'
                "  for_each = local.functions\n"
                "  input = {\n"
                "    runtime  = each.value.runtime\n"
                "    handler  = each.value.handler\n"
                "    artifact = each.value.artifact\n"
                "    memory   = try(each.value.memory_size, 128)\n"
                '    timeout  = lookup(each.value, "timeout", 3)\n'
                '    source   = "${try(each.value.src_type, "")}/${try(each.value.src_nickname, "")}"\n'
                "    logs     = try(each.value.log_retention_days, 14)\n"
                "    reserved = try(each.value.reserved_concurrency, -1)\n"
                "    env      = try(each.value.environment, {})\n"
                '    arch     = try(each.value.architectures, ["x86_64"])\n'
                "    layers   = try(each.value.layers, [])\n"
                '    tracing  = try(each.value.tracing_mode, "PassThrough")\n'
                "    dlq      = try(each.value.dead_letter_target, null)\n"
                "    storage  = try(each.value.ephemeral_storage, 512)\n"
                "    schedule = try(each.value.schedule_expression, null)\n"
                "    queue    = try(each.value.event_queue_runtime_path, null)\n"
                '    about    = try(each.value.description, "")\n'
                "    warm     = try(each.value.provisioned_concurrency, 0)\n"
                '    alias    = try(each.value.alias_name, "live")\n'
                "  }\n"
                "}\n"
                'data "aws_ssm_parameter" "vpc" {\n'
                "  for_each = local.with_vpc\n"
                '  name     = "/iac/vpc/${each.value.vpc_nickname}/runtime"\n'
                "}\n"
            )
        elif kind in ("env_vars", "secrets"):
            out.append(
                f'resource "terraform_data" "{kind}" {{\n'
                f"  input = jsonencode(try(local.{local}.{prefix}, {{}}))\n"
                "}\n"
            )
        else:
            out.append(
                f'resource "terraform_data" "{prefix}" {{\n'
                f"  for_each = try(local.{local}.{prefix}, {{}})\n"
                "  input    = { type = each.key, records = each.value }\n"
                "}\n"
            )
    return {
        f"components/{ctype}/header.tf": out[0],
        f"components/{ctype}/main.tf": "\n\n".join(out[1:]) + "\n",
    }


def terraform() -> dict[str, str]:
    """One folder per component type under `components/`, reading the fields the type uses."""
    files: dict[str, str] = {}
    for i, (ctype, spec) in enumerate(sorted(TYPES.items())):
        files.update(_type_terraform(ctype, spec, i))
    files["modules/tagging/main.tf"] = 'variable "tags" {}\noutput "tags" { value = var.tags }\n'
    return files


def catalog_terraform() -> dict[str, str]:
    """Terraform for the simulator's component types, rendered from its catalogue (the fields each
    type reads and the ones it cannot do without): the code evidence of a simulated world."""
    from karma_pipelines.simulator.catalog import SPECS

    files: dict[str, str] = {}
    for ctype, spec in sorted(SPECS.items()):
        required = set(spec.required)
        plain = [
            f for f in spec.fields if "*" not in f and not any(g.startswith(f + ".") for g in spec.fields)
        ]
        bags = sorted({f[:-2] for f in spec.fields if f.endswith(".*") and f.count("*") == 1})
        per_item: dict[str, list[str]] = {}
        for f in spec.fields:
            head, star, tail = f.partition(".*.")
            if star and tail and "*" not in tail:
                per_item.setdefault(head, []).append(tail)
        lines = [
            _HEADER.format(ctype=ctype, local="config"),
            'resource "terraform_data" "component" {',
            "  input = {",
        ]
        for f in plain:
            if f in bags or f in per_item:
                continue
            read = f"local.config.{f}" if f in required else f"try(local.config.{f}, null)"
            lines.append(f"    {f.replace('.', '_')} = {read}")
        for bag in bags:
            lines.append(f"    {bag.replace('.', '_')} = jsonencode(try(local.config.{bag}, {{}}))")
        lines += ["    tags = local.tags", "  }", "}"]
        for head, tails in sorted(per_item.items()):
            lines += [f'resource "terraform_data" "{head.replace(".", "_")}" {{',
                      f"  for_each = try(local.config.{head}, {{}})", "  input = {"]  # fmt: skip
            for tail in sorted(set(tails)):
                key = tail.replace(".", "_")
                if f"{head}.*.{tail}" in required:
                    lines.append(f"    {key} = each.value.{tail}")
                elif f"{head}.*.{tail}.*" in spec.fields:
                    lines.append(f"    {key} = jsonencode(try(each.value.{tail}, {{}}))")
                else:
                    lines.append(f"    {key} = try(each.value.{tail}, null)")
            lines += ["  }", "}"]
        files[f"components/{ctype}/main.tf"] = "\n".join(lines) + "\n"
    return files


def write_terraform(files: dict[str, str], root: Path | str) -> Path:
    root = Path(root)
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root
