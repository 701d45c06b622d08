"""Dependency-graph features as the graph was at each deploy (from config snapshots over time)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from karma_pipelines.contracts.schema import shared_values
from karma_pipelines.features.point_in_time import count_before


def edge_changes(snapshots: pd.DataFrame) -> pd.DataFrame:
    """Edge additions (+1) and removals (-1) over time: columns source, target, t, delta. An edge is
    added at a component's snapshot that has it when the component's snapshot before did not (every
    edge of its first snapshot), and removed at the snapshot after one that has it, when that one has
    it no more. Rows: the additions then the removals, each in the order of the snapshots that have
    the edge (time, then deploy id) and of their `references`.

    One pass over the snapshots in time order, comparing each with the component's snapshot before:
    most deploys leave the references as they were, so only changes are made (not a row per edge
    of every snapshot, joined with itself: half a gigabyte at a million deploys)."""
    snaps = snapshots[["deploy_id", "component", "captured_at", "references"]]
    snaps = snaps.sort_values(["captured_at", "deploy_id"], kind="stable")
    before: dict = {}  # component -> (its last snapshot's position, references, their set)
    added: tuple[list, ...] = ([], [], [])  # snapshot position, source, target
    removed: tuple[list, ...] = ([], [], [], [])  # position of the snapshot that had it, then as above
    empty: tuple = ()
    for i, (component, refs) in enumerate(
        zip(shared_values(snaps["component"]), snaps["references"].tolist(), strict=True)
    ):
        refs = empty if refs is None else refs
        now = set(refs)
        last = before.get(component)
        if last is None or last[2] != now:
            had = empty if last is None else last[2]
            for target in refs:
                if target not in had:
                    _extend(added, i, component, target)
            if last is not None:
                for target in last[1]:
                    if target not in now:
                        _extend(removed, last[0], i, component, target)
        before[component] = (i, refs, now)
    removed_at = np.asarray(removed[0], dtype=np.int64)
    keep = np.argsort(removed_at, kind="stable")  # in the order of the snapshots that had the edge
    times = snaps["captured_at"]
    parts = [
        (np.asarray(added[0], dtype=np.int64), added[1], added[2], 1),
        (np.asarray(removed[1], dtype=np.int64)[keep], [removed[2][k] for k in keep],
         [removed[3][k] for k in keep], -1),
    ]  # fmt: skip
    return pd.DataFrame(
        {
            "source": pd.Series(
                [s for _, sources, _, _ in parts for s in sources], dtype=snaps["component"].dtype
            ),
            "target": pd.Series([t for _, _, targets, _ in parts for t in targets], dtype="str"),
            "t": times.take(np.concatenate([at for at, _, _, _ in parts])).reset_index(drop=True),
            "delta": np.concatenate([np.full(len(at), delta, dtype=np.int64) for at, _, _, delta in parts]),
        }
    )


def _extend(lists: tuple[list, ...], *values) -> None:
    for column, value in zip(lists, values, strict=True):
        column.append(value)


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
