"""Field-level vocabulary: plausible values for each config field name, and how they change."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

Gen = Callable[[np.random.Generator, Any], Any]


def pick(rng: np.random.Generator, options: Sequence[Any]) -> Any:
    """One element of `options` as a plain Python object (never a numpy scalar)."""
    return options[int(rng.integers(len(options)))]


def cumulative(p: np.ndarray) -> np.ndarray:
    """The table `choose` draws from, for probabilities `p` (computed once, drawn from many times)."""
    cdf = np.asarray(p, dtype=np.float64).cumsum()
    cdf /= cdf[-1]
    return cdf


def choose(rng: np.random.Generator, cdf: np.ndarray) -> int:
    """`int(rng.choice(len(p), p=p))` for `cdf = cumulative(p)`: the same draw from the same stream
    (numpy's weighted choice is one uniform searched in this table), without rebuilding it."""
    return int(cdf.searchsorted(rng.random(), side="right"))


def _other(options: Sequence[Any]) -> Gen:
    """A generator choosing a value from `options` different from the current one."""

    def gen(rng: np.random.Generator, current: Any) -> Any:
        choices = [o for o in options if o != current] or list(options)
        return pick(rng, choices)

    return gen


def _flip(rng: np.random.Generator, current: Any) -> Any:
    return not bool(current)


def cidr(rng: np.random.Generator, current: Any = None) -> str:
    return f"10.{int(rng.integers(0, 256))}.0.0/{pick(rng, [16, 16, 20, 24])}"


def _cidrs(rng: np.random.Generator, current: Any) -> list[str]:
    return [cidr(rng) for _ in range(int(rng.integers(0, 4)))]


def _security_groups(rng: np.random.Generator, current: Any) -> list[str]:
    return [f"sg-{int(rng.integers(16**7, 16**8)):08x}" for _ in range(int(rng.integers(1, 4)))]


def image_tag(rng: np.random.Generator) -> str:
    if rng.random() < 0.5:
        return f"v{int(rng.integers(1, 4))}.{int(rng.integers(0, 30))}.{int(rng.integers(0, 10))}"
    return f"{int(rng.integers(16**6, 16**7)):07x}"


def _image(rng: np.random.Generator, current: Any) -> str:
    repo = str(current).rsplit(":", 1)[0] if current else "app"
    return f"{repo}:{image_tag(rng)}"


def _artifact(rng: np.random.Generator, current: Any) -> str:
    stem = str(current).rsplit("-", 1)[0] if current else "lambda/fn"
    return f"{stem}-{image_tag(rng)}.zip"


def _text(prefix: str) -> Gen:
    return lambda rng, current: f"{prefix} (rev {int(rng.integers(2, 99))})"


def _owner(rng: np.random.Generator, current: Any) -> str:
    return pick(rng, ["platform-team", "web-team", "data-team", "sre", "payments-team", "core-team"])


RUNTIMES = ("python3.11", "python3.12", "python3.13", "nodejs20.x", "nodejs22.x")

# Field name (the last segment of a dotted path) -> how a human changes its value.
GENERATORS: dict[str, Gen] = {
    # network
    "cidr": cidr,
    "default_sg_extra_ingress_cidrs": _cidrs,
    "security_groups": _security_groups,
    "assign_public_ip": _flip,
    "default_sg_allow_self": _flip,
    "single_nat_gateway": _flip,
    "enable_ssm_endpoints": _flip,
    # capacity
    "az_count": _other([2, 3]),
    "desired_count": _other([1, 2, 2, 3, 4, 6, 8, 12]),
    "cpu": _other([256, 512, 1024, 2048, 4096]),
    "memory": _other([512, 1024, 2048, 4096, 8192]),
    "memory_size": _other([128, 256, 512, 1024, 1536, 2048, 3008]),
    "instance_class": _other(["db.t4g.micro", "db.t4g.medium", "db.r6g.large", "db.r6g.xlarge"]),
    "allocated_storage": _other([20, 50, 100, 200, 500]),
    "instance_type": _other(["m6i.large", "m6i.xlarge", "r6i.large", "r6i.2xlarge"]),
    "data_volume_size": _other([100, 200, 500, 1000]),
    "broker_count": _other([1, 3, 5]),
    "replica_count": _other([1, 3]),
    # image / version
    "image": _image,
    "runtime": _other(RUNTIMES),
    "platform_version": _other(["1.4.0", "LATEST"]),
    "engine_version": _other(["15.5", "15.7", "16.3", "16.4"]),
    "clickhouse_version": _other(["24.3", "24.8", "25.1"]),
    "grafana_version": _other(["10.4.2", "11.1.0", "11.3.1"]),
    "redpanda_version": _other(["v23.3.9", "v24.1.7", "v24.2.4"]),
    "mongo_version": _other(["6.0", "7.0"]),
    # everything else
    "artifact": _artifact,
    "log_retention_days": _other([7, 14, 30, 60, 90]),
    "timeout": _other([3, 10, 30, 60, 300, 900]),
    "handler": _other(["main.handler", "app.lambda_handler", "index.handler"]),
    "comment": _text("managed by karma"),
    "cloudfront_comment": _text("site distribution"),
    "Owner": _owner,
    "versioning": _flip,
    "force_destroy": _flip,
    "enable_encryption": _flip,
    "sse_algorithm": _other(["AES256", "aws:kms"]),
    "enable_execute_command": _flip,
    "enable_container_insights": _flip,
    "exec_logging": _other(["DEFAULT", "OVERRIDE", "NONE"]),
    "enable_custom_domain": _flip,
    "multi_az": _flip,
    "dlq_enabled": _flip,
    "backup_retention_days": _other([1, 7, 14, 35]),
    "visibility_timeout": _other([30, 60, 120, 300, 900]),
    "message_retention_seconds": _other([86400, 345600, 1209600]),
    "max_receive_count": _other([3, 5, 10]),
    "mfa_configuration": _other(["OFF", "OPTIONAL", "ON"]),
    "health_check_grace_period": _other([0, 30, 60, 120, 300]),
    "health_check_path": _other(["/health", "/healthz", "/status", "/ping"]),
    "retention_hours": _other([24, 72, 168]),
    "plugins": _other([["grafana-clock-panel"], ["grafana-piechart-panel"], []]),
}

ENV_VARS: dict[str, Gen] = {
    "LOG_LEVEL": _other(["debug", "info", "warn", "error"]),
    "FEATURE_NEW_CHECKOUT": _other(["true", "false"]),
    "FEATURE_FAST_PATH": _other(["true", "false"]),
    "CACHE_TTL_SECONDS": _other(["30", "60", "300", "900"]),
    "RETRY_LIMIT": _other(["1", "3", "5"]),
    "WORKER_CONCURRENCY": _other(["2", "4", "8", "16"]),
    "REQUEST_TIMEOUT_MS": _other(["500", "1000", "3000"]),
    "SENTRY_SAMPLE_RATE": _other(["0.01", "0.1", "0.5"]),
    "REGION": _other(["us-east-1", "eu-west-1"]),
}

SECRET_NAMES = ("DB_PASSWORD", "API_KEY", "STRIPE_SECRET", "JWT_SIGNING_KEY", "OAUTH_CLIENT_SECRET")


def env_var_value(rng: np.random.Generator, name: str, current: Any = None) -> str:
    gen = ENV_VARS.get(name)
    return gen(rng, current) if gen else str(int(rng.integers(1, 1000)))


def secret_value(rng: np.random.Generator, project: str, env: str, name: str) -> str:
    return f"arn:aws:ssm:us-east-1:123456789012:parameter/{project}/{env}/{name}"


def password(rng: np.random.Generator) -> str:
    alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(pick(rng, alphabet) for _ in range(20))


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def misspell(rng: np.random.Generator, path: str, replace: bool = True) -> str:
    """A typo in the last segment of a dotted path: a dropped, doubled, swapped or (with `replace`)
    replaced letter; a name with no place for one gets an `s`. Without `replace`, the typo is never
    at either end nor next to an underscore (how the simulator's engineers misspell)."""
    parent, _, name = path.rpartition(".")
    if replace:
        spots = [i for i in range(len(name)) if name[i].isalpha()] if len(name) >= 3 else []
    else:
        spots = [i for i in range(1, len(name) - 1) if name[i] != "_" and name[i + 1] != "_"]
    if not spots:
        typo = name + "s"
    else:
        i = pick(rng, spots)
        kind = int(rng.integers(4 if replace else 3))
        if kind == 0 or (kind == 2 and not replace and name[i] == name[i + 1]):
            typo = name[:i] + name[i + 1 :]
        elif kind == 1:
            typo = name[:i] + name[i] + name[i:]
        elif kind == 2 and i + 1 < len(name) and name[i] != name[i + 1]:
            typo = name[:i] + name[i + 1] + name[i] + name[i + 2 :]
        else:
            options = [c for c in _LETTERS if c != name[i].lower()]
            new = options[int(rng.integers(len(options)))]
            typo = name[:i] + (new.upper() if name[i].isupper() else new) + name[i + 1 :]
    return f"{parent}.{typo}" if parent else typo


# Fields that belong to some component type, pasted into another that never reads them.
FOREIGN_FIELDS: dict[str, Any] = {
    "versioning": True,
    "desired_count": 2,
    "memory_size": 512,
    "cidr": "10.42.0.0/16",
    "enable_container_insights": True,
    "index_document": "index.html",
    "error_document": "404.html",
    "openapi": "openapi.yaml",
    "retention_days": 14,
    "instance_count": 2,
    "publicly_accessible": False,
}


def env_vars(rng: np.random.Generator, low: int, high: int) -> dict[str, str]:
    """Between `low` and `high` environment variables with plausible values."""
    names = sorted(ENV_VARS)
    chosen = rng.choice(len(names), size=int(rng.integers(low, high + 1)), replace=False)
    return {names[i]: ENV_VARS[names[i]](rng, None) for i in sorted(int(i) for i in chosen)}


def runtime_path(key: str) -> str:
    """Where a component's runtime outputs are published (`/iac/<type>/<nickname>/runtime`)."""
    return f"/iac/{key}/runtime"


FEATURE_GROUPS = {
    "enable_redpanda": ("redpanda_version", "redpanda_instance_type", "broker_count", "retention_hours"),
    "enable_mongo": ("mongo_version", "mongo_instance_type", "replica_count"),
}


def feature_group(rng: np.random.Generator, flag: str) -> dict[str, Any]:
    """The fields a feature flag brings with it (instance types reuse one generator)."""
    gen = {f: GENERATORS.get(f, GENERATORS["instance_type"]) for f in FEATURE_GROUPS[flag]}
    return {f: g(rng, None) for f, g in gen.items()}
