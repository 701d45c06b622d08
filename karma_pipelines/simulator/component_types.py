"""The one catalogue of Karma component types: each type's fields (what its Terraform reads, which
reads have no default, how often configs set them), the types it depends on and its service names.

The simulator, the synthetic Git repository and the suggester's generated corpus all draw on it.
A field's `kind` says how often a generated config sets it (the simulator's templates set their
own fields; the suggester's corpus follows the kinds):
  req: always (and read without a default) · always: always, read with a default · opt: with
  probability `p` per service · style: when the team's house style has it · env: per environment
  (`arg`: {env: p}, else `p`) · dep: when the service links to producer type `arg` · group: with
  feature group `arg` (the type's `groups` give each group's chance) · with: together with field
  `arg` · legacy: set in configs, read nowhere · map: user-named keys (`arg` says which) · node:
  an object read whole (its keys are covered by a `map`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any


@dataclass(frozen=True)
class Field:
    path: str  # dotted; `*` = any one key (a function name, an environment variable, …)
    kind: str = "opt"
    p: float = 0.5
    arg: Any = None
    required: bool | None = None  # read without a default; None: `kind == "req"`
    read: bool | None = None  # read by the Terraform at all; None: `kind != "legacy"`

    @property
    def is_required(self) -> bool:
        return self.kind == "req" if self.required is None else self.required

    @property
    def is_read(self) -> bool:
        return self.kind != "legacy" if self.read is None else self.read


@dataclass(frozen=True)
class TypeSpec:
    name: str
    fields: tuple[Field, ...]
    deps: tuple[tuple[str, float], ...] = ()  # (producer type, probability of linking to one)
    roles: tuple[str, ...] = ()  # service names for this type
    change_weight: float = 1.0  # how often engineers touch it, relative to others
    groups: dict[str, float] = field(default_factory=dict)  # feature group -> chance it is on

    @cached_property
    def reads(self) -> tuple[str, ...]:
        """Field patterns the type's Terraform reads (`*` = any one key)."""
        return tuple(f.path for f in self.fields if f.is_read)

    @cached_property
    def required(self) -> tuple[str, ...]:
        """Field patterns the type's Terraform reads without a default."""
        return tuple(f.path for f in self.fields if f.is_required)


def _f(*rows: tuple, prefix: str = "") -> tuple[Field, ...]:
    out = []
    for row in rows:
        path, *rest = row
        opts = rest.pop() if rest and isinstance(rest[-1], dict) and "_" in rest[-1] else {}
        out.append(Field(prefix + path, *rest, **{k: v for k, v in opts.items() if k != "_"}))
    return tuple(out)


REQ = {"_": 1, "required": True}  # a `dep` or `with` field the Terraform cannot do without
UNREAD = {"_": 1, "read": False}

_VPC = _f(
    ("cidr", "req"), ("az_count", "req"), ("default_sg_name", "req"),
    ("enable_ssm_endpoints", "style", 0.9), ("single_nat_gateway", "env", 0, {"dev": 0.95, "staging": 0.7}),
    ("default_sg_allow_self", "opt", 0.5), ("default_sg_extra_ingress_cidrs", "opt", 0.25),
    ("dhcp_domain_name", "style", 0.85), ("dhcp_domain_name_servers", "with", 0.9, "dhcp_domain_name"),
    ("flow_logs_enabled", "env", 0, {"prod": 0.9, "staging": 0.3}),
    ("flow_logs_retention_days", "with", 0.95, "flow_logs_enabled"), ("enable_ipv6", "opt", 0.1),
    ("enable_dns_hostnames", "style", 0.8), ("enable_dns_support", "with", 0.95, "enable_dns_hostnames"),
    ("public_subnet_cidrs", "style", 0.6), ("private_subnet_cidrs", "with", 0.95, "public_subnet_cidrs"),
    ("database_subnet_cidrs", "opt", 0.3), ("enable_vpn_gateway", "opt", 0.1), ("vpc_endpoints", "opt", 0.3),
)  # fmt: skip
_ZONE = _f(
    ("zone_name", "req"), ("comment", "style", 0.9), ("force_destroy", "env", 0, {"dev": 0.8}),
    ("enable_dnssec", "env", 0.05, {"prod": 0.5}), ("delegation_set_id", "opt", 0.15),
    ("query_logging_enabled", "env", 0, {"prod": 0.4}),
    ("root_records.*", "map", 0, (("MX", 0.7), ("TXT", 0.8), ("CAA", 0.3), ("SPF", 0.2))),
)  # fmt: skip
_BUCKET = _f(
    ("bucket_name", "req"), ("versioning", "env", 0.4, {"prod": 0.95}),
    ("force_destroy", "env", 0, {"dev": 0.9}), ("enable_encryption", "style", 0.95),
    ("sse_algorithm", "with", 0.9, "enable_encryption"), ("kms_key_alias", "opt", 0.15),
    ("block_public_access", "style", 0.9), ("enforce_owner", "style", 0.8), ("acl", "opt", 0.3),
    ("lifecycle_expiration_days", "opt", 0.3),
    ("lifecycle_transition_days", "with", 0.7, "lifecycle_expiration_days"),
    ("replication_bucket", "env", 0, {"prod": 0.35}), ("object_lock_enabled", "opt", 0.05),
    ("cors_rules", "opt", 0.2), ("website_enabled", "opt", 0.1),
    ("website_index_document", "with", 0.95, "website_enabled"),
    ("logging_bucket", "env", 0.05, {"prod": 0.5}), ("logging_prefix", "with", 0.9, "logging_bucket"),
    ("intelligent_tiering", "opt", 0.2), ("notification_queue_runtime_path", "dep", 0.3, "sqs-queue"),
)  # fmt: skip
_QUEUE = _f(
    ("queue_name", "req"), ("fifo", "opt", 0.25), ("content_based_deduplication", "with", 0.9, "fifo"),
    ("visibility_timeout", "style", 0.9), ("message_retention_seconds", "style", 0.7),
    ("dlq_enabled", "style", 0.8), ("max_receive_count", "with", 0.95, "dlq_enabled"),
    ("redrive_allow_policy", "with", 0.3, "dlq_enabled"), ("kms_key_alias", "opt", 0.15),
    ("alarm_queue_depth", "env", 0, {"prod": 0.8}), ("alarm_sns_topic", "with", 0.9, "alarm_queue_depth"),
    ("delay_seconds", "opt", 0.2), ("receive_wait_time_seconds", "style", 0.5),
    ("max_message_size", "opt", 0.15),
)  # fmt: skip
_SSO = _f(
    ("user_pool_name", "req"), ("domain_prefix", "req"), ("callback_urls", "req"),
    ("logout_urls", "style", 0.9), ("mfa_configuration", "env", 0.3, {"prod": 0.95}),
    ("allowed_oauth_flows", "style", 0.8), ("identity_providers", "opt", 0.6),
    ("google_client_id", "group", 0.0, "google"), ("google_client_secret", "group", 0.0, "google"),
    ("password_min_length", "opt", 0.3), ("access_token_validity", "style", 0.5),
    ("refresh_token_validity", "with", 0.9, "access_token_validity"),
    ("id_token_validity", "with", 0.9, "access_token_validity"),
    ("advanced_security_mode", "env", 0, {"prod": 0.6}), ("email_sending_account", "opt", 0.3),
    ("ses_from_address", "with", 0.9, "email_sending_account"),
)  # fmt: skip
_CLUSTER = _f(
    ("cluster_name", "req"), ("vpc_nickname", "dep", 1.0, "vpc", REQ),
    ("enable_execute_command", "env", 0.3, {"dev": 0.9}),
    ("exec_logging", "with", 0.9, "enable_execute_command"), ("create_log_group", "style", 0.9),
    ("log_retention_days", "style", 0.9), ("enable_container_insights", "env", 0.2, {"prod": 0.9}),
    ("capacity_providers", "style", 0.8), ("default_capacity_strategy", "with", 0.9, "capacity_providers"),
    ("spot_weight", "with", 0.4, "capacity_providers"), ("service_connect_namespace", "opt", 0.25),
    ("kms_key_alias", "opt", 0.15),
)  # fmt: skip
_RDS = _f(
    ("db_name", "req"), ("engine_version", "req"), ("instance_class", "req"),
    ("vpc_nickname", "dep", 1.0, "vpc", REQ), ("db_username", "req"), ("db_password", "opt", 0.4),
    ("allocated_storage", "style", 0.9), ("max_allocated_storage", "opt", 0.3),
    ("multi_az", "env", 0.1, {"prod": 0.95}), ("backup_retention_days", "env", 0.3, {"prod": 0.95}),
    ("backup_window", "with", 0.8, "backup_retention_days"), ("maintenance_window", "style", 0.7),
    ("deletion_protection", "env", 0.05, {"prod": 0.9}), ("performance_insights", "env", 0.1, {"prod": 0.6}),
    ("security_groups", "style", 0.8), ("parameter_group_family", "opt", 0.3), ("storage_type", "opt", 0.5),
    ("iops", "with", 0.4, "storage_type"), ("storage_encrypted", "style", 0.9),
    ("kms_key_alias", "with", 0.4, "storage_encrypted"), ("monitoring_interval", "env", 0.05, {"prod": 0.6}),
    ("auto_minor_version_upgrade", "style", 0.6), ("apply_immediately", "env", 0.1, {"dev": 0.6}),
    ("skip_final_snapshot", "env", 0.05, {"dev": 0.8}),
    ("final_snapshot_identifier", "env", 0, {"prod": 0.7}),
    ("iam_database_authentication", "opt", 0.3), ("ca_cert_identifier", "opt", 0.2),
    ("read_replica_count", "env", 0, {"prod": 0.2}),
)  # fmt: skip
FUNCTION_PREFIX = "functions.*."
_FUNCTION = _f(
    ("runtime", "req"), ("handler", "req"), ("artifact", "req"), ("memory_size", "style", 0.8),
    ("timeout", "style", 0.8), ("src_type", "with", 1.0, "src_nickname", REQ),
    ("src_nickname", "dep", 0.9, "s3-bucket", REQ), ("vpc_nickname", "dep", 0.7, "vpc"),
    ("log_retention_days", "style", 0.5), ("reserved_concurrency", "opt", 0.15),
    ("architectures", "style", 0.5), ("layers", "opt", 0.3), ("tracing_mode", "style", 0.4),
    ("dead_letter_target", "opt", 0.2), ("ephemeral_storage", "opt", 0.1),
    ("schedule_expression", "opt", 0.25), ("event_queue_runtime_path", "dep", 0.5, "sqs-queue"),
    ("description", "style", 0.6), ("provisioned_concurrency", "env", 0, {"prod": 0.3}),
    ("alias_name", "with", 0.9, "provisioned_concurrency"), ("environment", "node"),
    ("environment.*", "map", 0, "env_vars"),
    prefix=FUNCTION_PREFIX,
)  # fmt: skip
_LAMBDA = (
    _f(("log_retention_days", "style", 0.6), ("layers_bucket", "opt", 0.2), ("functions", "map", 0, "lambda"))
    + _FUNCTION
)
_SERVICE = _f(
    ("cluster_nickname", "dep", 1.0, "ecs-cluster", REQ), ("vpc_nickname", "dep", 1.0, "vpc"),
    ("service_name", "req"), ("desired_count", "req"), ("cpu", "req"), ("memory", "req"),
    ("platform_version", "style", 0.6), ("assign_public_ip", "style", 0.7),
    ("health_check_grace_period", "style", 0.8), ("security_groups", "style", 0.8),
    ("db_runtime_path", "dep", 0.95, "rds-postgres"), ("queue_runtime_path", "dep", 0.9, "sqs-queue"),
    ("autoscaling_min", "env", 0.05, {"prod": 0.8}), ("autoscaling_max", "with", 0.95, "autoscaling_min"),
    ("autoscaling_cpu_target", "with", 0.8, "autoscaling_min"),
    ("deployment_minimum_healthy_percent", "style", 0.8),
    ("deployment_maximum_percent", "with", 0.9, "deployment_minimum_healthy_percent"),
    ("enable_circuit_breaker", "style", 0.7),
    ("circuit_breaker_rollback", "with", 0.9, "enable_circuit_breaker"),
    ("propagate_tags", "style", 0.6), ("enable_ecs_managed_tags", "with", 0.8, "propagate_tags"),
    ("task_role_policy_arns", "opt", 0.4), ("execution_role_policy_arns", "opt", 0.3),
    ("ephemeral_storage_gb", "opt", 0.1), ("runtime_platform.cpu_architecture", "style", 0.4),
    ("runtime_platform.os_family", "with", 0.95, "runtime_platform.cpu_architecture"),
    ("service_discovery.namespace", "opt", 0.25),
    ("service_discovery.name", "with", 0.95, "service_discovery.namespace"),
    ("log_retention_days", "style", 0.8), ("container.name", "req"), ("container.image", "req"),
    ("container.port", "req"), ("container.command", "opt", 0.15), ("container.health_check", "style", 0.7),
    ("container.readonly_root_filesystem", "style", 0.5), ("container.stop_timeout", "opt", 0.2),
    ("container.ulimits", "opt", 0.1), ("container.mount_points", "opt", 0.15),
    ("container.environment", "node"), ("container.environment.*", "map", 0, "env_vars"),
    ("container.secrets", "node"), ("container.secrets.*", "map", 0, "secrets"),
    ("load_balancer.enabled", "opt", 0.75),
    ("load_balancer.target_port", "with", 0.95, "load_balancer.enabled"),
    ("load_balancer.health_check_path", "with", 0.9, "load_balancer.enabled"),
    ("load_balancer.certificate_arn", "env", 0.0, {"prod": 0.6, "staging": 0.3}),
    ("load_balancer.idle_timeout", "with", 0.3, "load_balancer.enabled"),
    ("sidecars.datadog.enabled", "group", 0.0, "datadog"), ("sidecars.datadog.site", "group", 0.0, "datadog"),
    ("sidecars.datadog.api_key_path", "group", 0.0, "datadog"), ("enable_xray", "group", 0.0, "tracing"),
    ("xray_sampling_rate", "group", 0.0, "tracing"),
)  # fmt: skip
_API = _f(
    ("api_name", "req"), ("stage_name", "req"), ("enable_custom_domain", "env", 0.3, {"prod": 0.9}),
    ("domain_name", "with", 0.95, "enable_custom_domain"),
    ("route53_zone_name", "with", 0.9, "enable_custom_domain"),
    ("lambda_nickname", "dep", 0.9, "lambda"), ("throttling_rate_limit", "style", 0.6),
    ("throttling_burst_limit", "with", 0.9, "throttling_rate_limit"), ("cors_allowed_origins", "opt", 0.4),
    ("access_log_format", "style", 0.5), ("access_log_retention_days", "with", 0.8, "access_log_format"),
    ("waf_acl_arn", "env", 0, {"prod": 0.4}), ("authorizer_type", "opt", 0.5),
    ("cognito_sso_nickname", "dep", 0.6, "cognito-sso"), ("api_key_required", "opt", 0.2),
    ("usage_plan_quota", "with", 0.9, "api_key_required"), ("openapi", "legacy", 0.4),
)  # fmt: skip
_SITE = _f(
    ("site_name", "req"), ("content_bucket_prefix", "req"), ("cloudfront_comment", "style", 0.8),
    ("enable_custom_domain", "env", 0.3, {"prod": 0.9}),
    ("domain_aliases", "with", 0.8, "enable_custom_domain"),
    ("route53_zone_name", "with", 0.95, "enable_custom_domain"), ("price_class", "opt", 0.3),
    ("spa_fallback", "opt", 0.4), ("cache_default_ttl", "style", 0.5),
    ("cache_max_ttl", "with", 0.9, "cache_default_ttl"), ("waf_acl_arn", "env", 0, {"prod": 0.3}),
    ("security_headers", "style", 0.6), ("index_document", "legacy", 0.3),
    ("error_document", "with", 0.95, "index_document", UNREAD),
)  # fmt: skip
_GRAFANA = _f(
    ("vpc_nickname", "dep", 1.0, "vpc", REQ), ("ecs_cluster_nickname", "dep", 1.0, "ecs-cluster", REQ),
    ("cognito_sso_nickname", "dep", 1.0, "cognito-sso", REQ), ("grafana_version", "always"),
    ("admin_user", "req"), ("admin_password", "opt", 0.5), ("desired_count", "style", 0.7),
    ("cpu", "style", 0.8), ("memory", "with", 0.95, "cpu"), ("plugins", "opt", 0.5),
    ("grafana_domain", "style", 0.6), ("anonymous_access", "opt", 0.2),
    ("clickhouse_nickname", "dep", 0.6, "clickhouse"), ("smtp_host", "group", 0.0, "smtp"),
    ("smtp_user", "group", 0.0, "smtp"), ("smtp_from", "group", 0.0, "smtp"),
)  # fmt: skip
_CLICKHOUSE = _f(
    ("vpc_nickname", "dep", 1.0, "vpc", REQ), ("cognito_sso_nickname", "dep", 1.0, "cognito-sso", REQ),
    ("s3_bucket_nickname", "dep", 0.9, "s3-bucket"), ("s3_bucket_prefix", "with", 0.95, "s3_bucket_nickname"),
    ("instance_type", "req"), ("clickhouse_version", "style", 0.9), ("data_volume_size", "style", 0.8),
    ("ebs_type", "opt", 0.5),
    ("ebs_iops", "with", 0.8, "ebs_type"), ("ebs_throughput", "with", 0.8, "ebs_type"),
    ("http_port", "opt", 0.3), ("tcp_port", "with", 0.9, "http_port"), ("allowed_cidrs", "opt", 0.3),
    ("security_groups", "style", 0.6),
    ("grafana_url", "opt", 0.4), ("grafana_admin", "with", 0.6, "grafana_url"),
    ("prometheus_url", "opt", 0.4), ("prometheus_ds_name", "with", 0.8, "prometheus_url"),
    ("key_name", "opt", 0.2), ("backup_schedule", "env", 0, {"prod": 0.7}),
    ("backup_retention_days", "with", 0.9, "backup_schedule"),
    ("enable_redpanda", "group", 0.0, "redpanda"), ("redpanda_version", "group", 0.0, "redpanda"),
    ("redpanda_instance_type", "group", 0.0, "redpanda"), ("broker_count", "group", 0.0, "redpanda"),
    ("retention_hours", "group", 0.0, "redpanda"), ("redpanda_topic", "group", 0.0, "redpanda"),
    ("redpanda_partitions", "group", 0.0, "redpanda"), ("enable_mongo", "group", 0.0, "mongo"),
    ("mongo_version", "group", 0.0, "mongo"), ("mongo_instance_type", "group", 0.0, "mongo"),
    ("replica_count", "group", 0.0, "mongo"), ("mongo_port", "group", 0.0, "mongo"),
    ("enable_kafka_connect", "group", 0.0, "kconnect"), ("kconnect_version", "group", 0.0, "kconnect"),
    ("kconnect_workers", "group", 0.0, "kconnect"),
)  # fmt: skip
_EKS = _f(
    ("cluster_name", "req"), ("kubernetes_version", "req"), ("vpc_nickname", "dep", 1.0, "vpc"),
    ("endpoint_public_access", "env", 0.3, {"dev": 0.8}), ("enabled_log_types", "style", 0.7),
    ("cluster_log_retention_days", "with", 0.8, "enabled_log_types"), ("node_instance_types", "req"),
    ("node_min_size", "style", 0.9), ("node_max_size", "with", 0.95, "node_min_size"),
    ("node_desired_size", "with", 0.8, "node_min_size"), ("node_disk_size", "opt", 0.4),
    ("node_capacity_type", "env", 0.1, {"dev": 0.6}), ("enable_irsa", "style", 0.8),
    ("fargate_profiles", "opt", 0.15), ("addons_vpc_cni", "group", 0.0, "addons"),
    ("addons_coredns", "group", 0.0, "addons"), ("addons_kube_proxy", "group", 0.0, "addons"),
    ("karpenter_enabled", "group", 0.0, "karpenter"), ("karpenter_version", "group", 0.0, "karpenter"),
)  # fmt: skip

SPECS: dict[str, TypeSpec] = {
    s.name: s
    for s in (
        TypeSpec("vpc", _VPC, roles=("net",), change_weight=0.35),
        TypeSpec("route53-zone", _ZONE, roles=("zone",), change_weight=0.3),
        TypeSpec("s3-bucket", _BUCKET, roles=("artifacts", "assets", "exports", "uploads", "logs"),
                 change_weight=0.5),
        TypeSpec("sqs-queue", _QUEUE, roles=("events", "jobs", "orders", "emails"), change_weight=0.6),
        TypeSpec("cognito-sso", _SSO, roles=("sso",), change_weight=0.4, groups={"google": 0.4}),
        TypeSpec("ecs-cluster", _CLUSTER, deps=(("vpc", 1.0),), roles=("cluster",), change_weight=0.4),
        TypeSpec("rds-postgres", _RDS, deps=(("vpc", 1.0),), roles=("db", "ledger-db", "users-db"),
                 change_weight=0.6),
        TypeSpec("lambda", _LAMBDA, deps=(("s3-bucket", 1.0), ("vpc", 0.6), ("sqs-queue", 0.5)),
                 roles=("handlers", "jobs", "hooks", "etl", "cron", "resizer")),
        TypeSpec("ecs-service", _SERVICE,
                 deps=(("ecs-cluster", 1.0), ("vpc", 1.0), ("rds-postgres", 0.5), ("sqs-queue", 0.4)),
                 roles=("api", "worker", "web", "gateway", "scheduler", "ingest", "renderer", "sync"),
                 change_weight=1.3, groups={"datadog": 0.25, "tracing": 0.2}),
        TypeSpec("serverless-api", _API, deps=(("lambda", 0.8),),
                 roles=("public-api", "partner-api", "admin-api")),
        TypeSpec("serverless-site", _SITE, roles=("site", "docs", "status"), change_weight=0.8),
        TypeSpec("grafana", _GRAFANA, deps=(("vpc", 1.0), ("ecs-cluster", 1.0), ("cognito-sso", 1.0)),
                 roles=("grafana",), change_weight=0.6, groups={"smtp": 0.4}),
        TypeSpec("clickhouse", _CLICKHOUSE, deps=(("vpc", 1.0), ("cognito-sso", 1.0), ("s3-bucket", 0.7)),
                 roles=("warehouse",), change_weight=0.7,
                 groups={"redpanda": 0.5, "mongo": 0.4, "kconnect": 0.3}),
        TypeSpec("eks-cluster", _EKS, deps=(("vpc", 1.0),), roles=("k8s",), change_weight=0.5,
                 groups={"addons": 0.6, "karpenter": 0.3}),
    )
}  # fmt: skip
