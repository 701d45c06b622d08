"""Features of the world's state at the start of each deploy's day: the dependency graph (transitive
dependents, PageRank) and each type's usual fields. Built once per day from earlier snapshots only, so
they are point-in-time correct; the loop is over days, never over deploys."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd

COMMON_SHARE = 0.9  # a field that at least this share of a type's configs set is "usual"
MIN_CONFIGS = 3  # below this many configs of a type, nothing is usual yet


def _latest_before(snaps: pd.DataFrame, day: pd.Timestamp) -> pd.DataFrame:
    """Each component's latest snapshot captured strictly before `day` (snaps sorted by time)."""
    end = int(snaps["captured_at"].searchsorted(day, side="left"))
    latest = snaps.iloc[:end].drop_duplicates("component", keep="last")
    return latest[latest["n_fields"] > 0]  # an empty config is a removed component


def _graph_rows(latest: pd.DataFrame, day: pd.Timestamp) -> pd.DataFrame | None:
    graph = nx.DiGraph()
    graph.add_nodes_from(latest["component"])
    graph.add_edges_from(
        (src, dst)
        for src, refs in zip(latest["component"], latest["references"], strict=True)
        for dst in refs
    )
    if graph.number_of_nodes() == 0:
        return None
    # An edge src -> dst means src reads dst's runtime: dst's dependents are its ancestors.
    rank = nx.pagerank(graph.reverse(copy=False)) if graph.number_of_edges() else {}
    nodes = list(graph.nodes)
    return pd.DataFrame(
        {
            "day": day,
            "component": nodes,
            "downstream_transitive": [len(nx.ancestors(graph, n)) for n in nodes],
            "pagerank": [rank.get(n, 1.0 / len(nodes)) for n in nodes],
        }
    )


def _usual_fields(latest: pd.DataFrame, day: pd.Timestamp) -> pd.DataFrame:
    per_type = latest.groupby("component_type")["component"].transform("size")
    fields = latest.assign(n_type=per_type).explode("field_paths")
    counts = fields.groupby(["component_type", "field_paths"]).agg(
        n=("component", "size"), n_type=("n_type", "first")
    )
    usual = counts[(counts["n_type"] >= MIN_CONFIGS) & (counts["n"] >= COMMON_SHARE * counts["n_type"])]
    return usual.reset_index()[["component_type", "field_paths"]].assign(day=day)


def daily_state_features(
    deploys: pd.DataFrame, snapshots: pd.DataFrame, only_days: set[pd.Timestamp] | None = None
) -> pd.DataFrame:
    """deploy_id, downstream_transitive, pagerank, usual_fields_missing (index aligned with deploys).
    With `only_days`, the state is built for those days alone (other rows get NaN / 0)."""
    days = deploys["deployed_at"].dt.floor("D")
    snaps = snapshots.sort_values(["captured_at", "deploy_id"], kind="stable")
    graph_parts, usual_parts = [], []
    wanted = sorted(days.unique()) if only_days is None else sorted(only_days)
    for day in wanted:
        latest = _latest_before(snaps, day)
        rows = _graph_rows(latest, day)
        if rows is not None:
            graph_parts.append(rows)
        usual_parts.append(_usual_fields(latest, day))
    graph = pd.concat(graph_parts, ignore_index=True) if graph_parts else pd.DataFrame()
    usual = pd.concat(usual_parts, ignore_index=True) if usual_parts else pd.DataFrame()

    keyed = pd.DataFrame({"deploy_id": deploys["deploy_id"], "component": deploys["component"], "day": days})
    out = keyed.merge(graph, on=["day", "component"], how="left") if len(graph) else keyed
    out = out.reindex(columns=[*keyed.columns, "downstream_transitive", "pagerank"])
    out["downstream_transitive"] = out["downstream_transitive"].fillna(0).astype("float64")
    out["pagerank"] = out["pagerank"].astype("float64")

    # Usual fields of the deploy's type that its own (deployed) config lacks.
    own = (
        deploys[["deploy_id", "component_type"]]
        .assign(day=days)
        .merge(snapshots[["deploy_id", "field_paths"]], on="deploy_id", how="left")
    )
    if len(usual):
        n_usual = usual.groupby(["component_type", "day"]).size().rename("n_usual")
        present = (
            own.explode("field_paths")
            .merge(usual, on=["component_type", "day", "field_paths"], how="inner")
            .groupby("deploy_id")
            .size()
        )
        expected = own.join(n_usual, on=["component_type", "day"])["n_usual"].fillna(0).to_numpy()
        got = own["deploy_id"].map(present).fillna(0).to_numpy()
        out["usual_fields_missing"] = np.maximum(expected - got, 0).astype("float64")
    else:
        out["usual_fields_missing"] = 0.0
    out.index = deploys.index
    return out[["deploy_id", "downstream_transitive", "pagerank", "usual_fields_missing"]]
