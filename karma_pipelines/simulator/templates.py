"""Initial configs: what an engineer writes when creating a component of each type."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from karma_pipelines.simulator.fields import (
    FEATURE_GROUPS,
    GENERATORS,
    RUNTIMES,
    SECRET_NAMES,
    cidr,
    env_vars,
    feature_group,
    image_tag,
    password,
    pick,
    runtime_path,
    secret_value,
)
from karma_pipelines.simulator.world import Component

Template = Callable[[np.random.Generator, Component], dict[str, Any]]
LAMBDA_NAMES = ("api", "worker", "cron", "webhook", "resize", "notify", "ingest", "export")


def _gen(rng: np.random.Generator, name: str) -> Any:
    return GENERATORS[name](rng, None)


def _vpc(rng: np.random.Generator, c: Component) -> dict[str, Any]:
    return {
        "cidr": cidr(rng),
        "az_count": 3 if c.env == "prod" else 2,
        "enable_ssm_endpoints": bool(rng.random() < 0.6),
        "single_nat_gateway": c.env != "prod",
        "default_sg_name": f"{c.nickname}-default",
        "default_sg_allow_self": True,
        "default_sg_extra_ingress_cidrs": [],
        "dhcp_domain_name": f"{c.project}.internal",
        "dhcp_domain_name_servers": ["AmazonProvidedDNS"],
    }


def _zone(rng: np.random.Generator, c: Component) -> dict[str, Any]:
    domain = f"{c.project}.example.com" if c.env == "prod" else f"{c.env}.{c.project}.example.com"
    return {
        "zone_name": domain,
        "comment": f"{c.project} {c.env} zone",
        "root_records": {"MX": [f"10 mail.{domain}"], "TXT": ["v=spf1 include:amazonses.com ~all"]},
    }


def _bucket(rng: np.random.Generator, c: Component) -> dict[str, Any]:
    return {
        "bucket_name": f"{c.nickname}-{int(rng.integers(16**5, 16**6)):06x}",
        "versioning": c.env == "prod" or bool(rng.random() < 0.5),
        "force_destroy": c.env == "dev",
        "enable_encryption": True,
        "sse_algorithm": pick(rng, ["AES256", "aws:kms"]),
        "block_public_access": True,
        "enforce_owner": True,
        "acl": "private",
    }


def _queue(rng: np.random.Generator, c: Component) -> dict[str, Any]:
    return {
        "queue_name": c.nickname,
        "fifo": bool(rng.random() < 0.3),
        "visibility_timeout": _gen(rng, "visibility_timeout"),
        "message_retention_seconds": _gen(rng, "message_retention_seconds"),
        "dlq_enabled": True,
        "max_receive_count": _gen(rng, "max_receive_count"),
    }


def _sso(rng: np.random.Generator, c: Component) -> dict[str, Any]:
    host = f"https://{c.env}.{c.project}.example.com"
    return {
        "user_pool_name": c.nickname,
        "domain_prefix": f"{c.nickname}-auth",
        "callback_urls": [f"{host}/oauth2/callback"],
        "logout_urls": [f"{host}/logout"],
        "mfa_configuration": "ON" if c.env == "prod" else "OPTIONAL",
        "allowed_oauth_flows": ["code"],
        "identity_providers": ["COGNITO", "Google"],
    }


def _cluster(rng: np.random.Generator, c: Component) -> dict[str, Any]:
    return {
        "cluster_name": c.nickname,
        "vpc_nickname": c.ref("vpc"),
        "enable_execute_command": c.env != "prod",
        "exec_logging": "DEFAULT",
        "create_log_group": True,
        "log_retention_days": _gen(rng, "log_retention_days"),
        "enable_container_insights": c.env == "prod",
        "capacity_providers": ["FARGATE", "FARGATE_SPOT"],
        "default_capacity_strategy": [{"capacity_provider": "FARGATE", "weight": 1}],
    }


def _rds(rng: np.random.Generator, c: Component) -> dict[str, Any]:
    return {
        "db_name": c.service.replace("-", "_"),
        "engine_version": _gen(rng, "engine_version"),
        "instance_class": _gen(rng, "instance_class"),
        "allocated_storage": _gen(rng, "allocated_storage"),
        "multi_az": c.env == "prod",
        "vpc_nickname": c.ref("vpc"),
        "db_username": "app",
        "db_password": password(rng),
        "backup_retention_days": 7 if c.env == "prod" else 1,
        "security_groups": _gen(rng, "security_groups"),
    }


def lambda_function(rng: np.random.Generator, c: Component, name: str) -> dict[str, Any]:
    fn: dict[str, Any] = {
        "runtime": pick(rng, RUNTIMES),
        "handler": _gen(rng, "handler"),
        "memory_size": _gen(rng, "memory_size"),
        "timeout": _gen(rng, "timeout"),
        "src_type": "s3-bucket",
        "src_nickname": c.ref("s3-bucket"),
        "log_retention_days": _gen(rng, "log_retention_days"),
        "artifact": f"lambda/{name}-{image_tag(rng)}.zip",
        "environment": env_vars(rng, 0, 3),
    }
    if c.ref("vpc"):
        fn["vpc_nickname"] = c.ref("vpc")
    if c.ref("sqs-queue"):
        fn["environment"]["queue_runtime_path"] = runtime_path(f"sqs-queue/{c.ref('sqs-queue')}")
    return fn


def _lambda(rng: np.random.Generator, c: Component) -> dict[str, Any]:
    n = int(rng.integers(1, 4))
    names = [LAMBDA_NAMES[int(i)] for i in sorted(rng.choice(len(LAMBDA_NAMES), n, replace=False))]
    return {"functions": {name: lambda_function(rng, c, name) for name in names}}


def _service(rng: np.random.Generator, c: Component) -> dict[str, Any]:
    port = pick(rng, [80, 3000, 8000, 8080])
    secrets = sorted({pick(rng, SECRET_NAMES) for _ in range(int(rng.integers(0, 3)))})
    env = env_vars(rng, 1, 4)
    if c.ref("sqs-queue"):
        env["queue_runtime_path"] = runtime_path(f"sqs-queue/{c.ref('sqs-queue')}")
    if rng.random() < 0.15:  # a connection string pasted where a secret ref belongs
        env["DATABASE_URL"] = f"postgres://app:{password(rng)}@{c.service}-db.internal:5432/app"
    cfg: dict[str, Any] = {
        "cluster_nickname": c.ref("ecs-cluster"),
        "vpc_nickname": c.ref("vpc"),
        "service_name": c.nickname,
        "desired_count": 3 if c.env == "prod" else 1,
        "cpu": _gen(rng, "cpu"),
        "memory": _gen(rng, "memory"),
        "platform_version": "LATEST",
        "assign_public_ip": False,
        "health_check_grace_period": _gen(rng, "health_check_grace_period"),
        "security_groups": _gen(rng, "security_groups"),
        "container": {
            "name": c.service,
            "image": f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{c.service}:{image_tag(rng)}",
            "port": port,
            "environment": env,
            "secrets": {s: secret_value(rng, c.project, c.env, s) for s in secrets},
        },
        "load_balancer": {"enabled": True, "target_port": port, "health_check_path": "/health"},
    }
    if c.ref("rds-postgres"):
        cfg["db_runtime_path"] = runtime_path(f"rds-postgres/{c.ref('rds-postgres')}")
    return cfg


def _api(rng: np.random.Generator, c: Component) -> dict[str, Any]:
    cfg = {
        "api_name": c.nickname,
        "stage_name": pick(rng, ["v1", "live", c.env]),
        "enable_custom_domain": c.env == "prod",
        "domain_name": f"api.{c.env}.{c.project}.example.com",
        "route53_zone_name": f"{c.env}.{c.project}.example.com",
    }
    if c.ref("lambda"):
        cfg["lambda_nickname"] = c.ref("lambda")
    if rng.random() < 0.4:  # the real repos carry an `openapi` field nothing reads
        cfg["openapi"] = "openapi.yaml"
    return cfg


def _site(rng: np.random.Generator, c: Component) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "site_name": c.nickname,
        "content_bucket_prefix": f"{c.nickname}-content",
        "cloudfront_comment": f"{c.service} ({c.env})",
        "enable_custom_domain": c.env == "prod",
        "domain_aliases": [f"{c.service}.{c.project}.example.com"] if c.env == "prod" else [],
        "route53_zone_name": f"{c.project}.example.com",
    }
    if rng.random() < 0.3:  # as in Karma's own repos: set, never read by the Terraform
        cfg.update(index_document="index.html", error_document="404.html")
    return cfg


def _grafana(rng: np.random.Generator, c: Component) -> dict[str, Any]:
    return {
        "vpc_nickname": c.ref("vpc"),
        "ecs_cluster_nickname": c.ref("ecs-cluster"),
        "cognito_sso_nickname": c.ref("cognito-sso"),
        "grafana_version": _gen(rng, "grafana_version"),
        "desired_count": 1,
        "cpu": 512,
        "memory": 1024,
        "admin_user": "admin",
        "admin_password": password(rng),
        "plugins": ["grafana-clock-panel"],
    }


def _clickhouse(rng: np.random.Generator, c: Component) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "vpc_nickname": c.ref("vpc"),
        "cognito_sso_nickname": c.ref("cognito-sso"),
        "instance_type": _gen(rng, "instance_type"),
        "clickhouse_version": _gen(rng, "clickhouse_version"),
        "data_volume_size": _gen(rng, "data_volume_size"),
        "security_groups": _gen(rng, "security_groups"),
    }
    if c.ref("s3-bucket"):
        cfg["s3_bucket_nickname"] = c.ref("s3-bucket")
    for flag in FEATURE_GROUPS:
        on = bool(rng.random() < 0.4)
        cfg[flag] = on
        if on:
            cfg.update(feature_group(rng, flag))
    return cfg


TEMPLATES: dict[str, Template] = {
    "vpc": _vpc, "route53-zone": _zone, "s3-bucket": _bucket, "sqs-queue": _queue,
    "cognito-sso": _sso, "ecs-cluster": _cluster, "rds-postgres": _rds, "lambda": _lambda,
    "ecs-service": _service, "serverless-api": _api, "serverless-site": _site,
    "grafana": _grafana, "clickhouse": _clickhouse,
}  # fmt: skip


def initial_config(c: Component) -> dict[str, Any]:
    """The first config of `c`: alike across a service's environments (one seed per service),
    with environment-specific names and values; links to producers `c` lacks are left out."""
    cfg = TEMPLATES[c.type](np.random.default_rng(c.shape_seed), c)
    cfg = {k: v for k, v in cfg.items() if not (k.endswith("_nickname") and v is None)}
    cfg["tags"] = {"Project": c.project, "Environment": c.env, "Owner": c.owner}
    return cfg
