"""Which kinds of fields a change touches: references, capacity, network, security, image/version."""

from __future__ import annotations

import re

import pandas as pd

FIELD_KINDS: dict[str, re.Pattern[str]] = {
    "reference": re.compile(r"(_nickname|_runtime_path|src_type)$"),
    "capacity": re.compile(
        r"(desired_count|cpu|memory|memory_size|min_size|max_size|instance_class|"
        r"allocated_storage|az_count|capacity|concurrency|timeout)$"
    ),
    "network": re.compile(r"(cidr|subnet|ingress|egress|nat|port|vpc|dhcp|domain|zone|alias)"),
    "security": re.compile(r"(security_group|_sg_|iam|policy|encryption|public|acl|secret|kms)"),
    "image": re.compile(r"(image|runtime|version|artifact|platform_version|engine)"),
}


def count_kinds(paths: list[str]) -> dict[str, int]:
    return {kind: sum(1 for p in paths if rx.search(p)) for kind, rx in FIELD_KINDS.items()}


def change_kind_counts(deploys: pd.DataFrame) -> pd.DataFrame:
    """One column per kind: how many touched (added, removed or changed) paths are of that kind."""
    touched = deploys["fields_added"] + deploys["fields_removed"] + deploys["fields_changed"]
    counts = pd.DataFrame([count_kinds(list(p)) for p in touched], index=deploys.index)
    if counts.empty:
        counts = pd.DataFrame({k: pd.Series(dtype="int64") for k in FIELD_KINDS}, index=deploys.index)
    return counts.add_prefix("changes_").astype("int64")
