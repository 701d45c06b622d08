"""Dependency-graph features as the graph was at each deploy (from config snapshots over time)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from karma_pipelines.features.point_in_time import count_before


def edge_changes(snapshots: pd.DataFrame) -> pd.DataFrame:
    """Edge additions (+1) and removals (-1) over time: columns source, target, t, delta."""
    # The columns read, not the configs' text (a copy of all of it is most of a gigabyte at a million).
    snaps = snapshots[["deploy_id", "component", "captured_at", "references"]]
    snaps = snaps.sort_values(["captured_at", "deploy_id"], kind="stable")
    snaps["seq"] = snaps.groupby("component").cumcount()
    edges = (
        snaps[["component", "seq", "captured_at", "references"]]
        .explode("references")
        .dropna(subset=["references"])
        .rename(columns={"component": "source", "references": "target", "captured_at": "t"})
    )
    present = edges.assign(seq_next=edges["seq"] + 1)[["source", "target", "seq_next"]]
    # Added: present at seq, absent at seq-1.
    prev = edges[["source", "target", "seq"]].assign(seq=edges["seq"] - 1)
    was_there = prev.merge(edges[["source", "target", "seq"]], how="left", indicator=True)
    added = edges[(was_there["_merge"] == "left_only").to_numpy()].assign(delta=1)
    # Removed: present at seq, absent at seq+1 (when a seq+1 snapshot exists).
    nxt = snaps[["component", "seq", "captured_at"]].rename(
        columns={"component": "source", "seq": "seq_next", "captured_at": "t"}
    )
    candidates = present.merge(nxt, on=["source", "seq_next"], how="inner")
    still = candidates.merge(
        edges[["source", "target", "seq"]].rename(columns={"seq": "seq_next"}),
        on=["source", "target", "seq_next"],
        how="left",
        indicator=True,
    )
    removed = still[still["_merge"] == "left_only"].assign(delta=-1)
    cols = ["source", "target", "t", "delta"]
    return pd.concat([added[cols], removed[cols]], ignore_index=True)


def in_degree_before(deploys: pd.DataFrame, changes: pd.DataFrame) -> np.ndarray:
    """Number of components whose config referenced this component just before the deploy."""
    return count_before(
        deploys["component"],
        deploys["deployed_at"],
        changes["target"],
        changes["t"],
        weights=changes["delta"],
    )


def upstream_hours_since_change(deploys: pd.DataFrame, snapshots: pd.DataFrame) -> pd.Series:
    """Hours since any component this deploy's config references was last deployed (NaN: never)."""
    refs = (
        deploys[["deploy_id", "deployed_at"]]
        .merge(snapshots[["deploy_id", "references"]], on="deploy_id", how="left")
        .explode("references")
        .dropna(subset=["references"])
        .rename(columns={"references": "upstream"})
        .astype({"upstream": "string"})
        .sort_values("deployed_at", kind="stable")
    )
    upstream_deploys = (
        deploys[["component", "deployed_at"]]
        .rename(columns={"component": "upstream", "deployed_at": "upstream_at"})
        .astype({"upstream": "string"})
        .sort_values("upstream_at", kind="stable")
    )
    if refs.empty:
        return pd.Series(np.nan, index=deploys.index)
    joined = pd.merge_asof(
        refs,
        upstream_deploys,
        left_on="deployed_at",
        right_on="upstream_at",
        by="upstream",
        allow_exact_matches=False,
    )
    hours = (joined["deployed_at"] - joined["upstream_at"]).dt.total_seconds() / 3600.0
    nearest = hours.groupby(joined["deploy_id"]).min()
    return deploys["deploy_id"].map(nearest).astype("float64")
