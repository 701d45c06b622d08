"""Which kinds of fields a change touches: references, capacity, network, security, image/version."""

from __future__ import annotations

import re

import pandas as pd

# Matched against a path's last segment (the field's own name), so `vpc_nickname` is a reference,
# not a network change, and `functions.api.memory_size` is capacity.
FIELD_KINDS: dict[str, re.Pattern[str]] = {
    "reference": re.compile(r"(_nickname|_runtime_path|^src_type)$"),
    "capacity": re.compile(
        r"^(desired_count|cpu|memory|memory_size|min_size|max_size|min_capacity|max_capacity|az_count|"
        r"instance_class|instance_type|allocated_storage|.*volume_size|.*_count|concurrency|"
        r"reserved_concurrency|timeout)$"
    ),
    "network": re.compile(
        r"(cidr|cidrs|subnet|ingress|egress|nat_gateway|assign_public_ip|ssm_endpoints|^port$|"
        r"security_groups|_sg_|^sg_)"
    ),
    "security": re.compile(r"(iam|policy|encryption|sse_|public_access|^acl$|secret|kms|owner)"),
    "image": re.compile(r"^(image|runtime|artifact|platform_version|.*_version|engine)$"),
}


def count_kinds(paths: list[str]) -> dict[str, int]:
    names = [p.rsplit(".", 1)[-1] for p in paths]
    return {kind: sum(1 for n in names if rx.search(n)) for kind, rx in FIELD_KINDS.items()}


def change_kind_counts(deploys: pd.DataFrame) -> pd.DataFrame:
    """One column per kind: how many touched (added, removed or changed) paths are of that kind."""
    touched = deploys["fields_added"] + deploys["fields_removed"] + deploys["fields_changed"]
    counts = pd.DataFrame([count_kinds(list(p)) for p in touched], index=deploys.index)
    if counts.empty:
        counts = pd.DataFrame({k: pd.Series(dtype="int64") for k in FIELD_KINDS}, index=deploys.index)
    return counts.add_prefix("changes_").astype("int64")
