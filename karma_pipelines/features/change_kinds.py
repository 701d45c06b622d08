"""Which kinds of fields a change touches: references, capacity, network, security, image/version."""

from __future__ import annotations

import functools
import re

import numpy as np
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


@functools.lru_cache(maxsize=1 << 16)  # a history's field names repeat deploy after deploy
def _kinds_of(name: str) -> np.ndarray:
    """1 for each kind (in FIELD_KINDS order) that the field name `name` is of, else 0."""
    return np.array([rx.search(name) is not None for rx in FIELD_KINDS.values()], dtype=np.int64)


def change_kind_counts(deploys: pd.DataFrame) -> pd.DataFrame:
    """One column per kind: how many touched (added, removed or changed) paths are of that kind."""
    columns = (deploys[c].tolist() for c in ("fields_added", "fields_removed", "fields_changed"))
    counts = np.zeros((len(deploys), len(FIELD_KINDS)), dtype=np.int64)
    for row, parts in enumerate(zip(*columns, strict=True)):
        for paths in parts:
            for path in paths:
                counts[row] += _kinds_of(path.rsplit(".", 1)[-1])
    return pd.DataFrame(counts, columns=[f"changes_{k}" for k in FIELD_KINDS], index=deploys.index)
