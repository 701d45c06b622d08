"""One period's changes of the graph: the rows of `GraphHistory.deltas` (see `graph.over_time`)."""

from __future__ import annotations

import networkx as nx

CHANGES = (
    "node_added",
    "node_removed",
    "edge_added",
    "edge_removed",
    "edge_repointed",
    "edge_transient",
    "drifted",
)
DELTA_COLUMNS = [
    "period_start",
    "period_end",
    "change",
    "component",
    "other",
    "previous",
    "kind",
    "component_type",
    "environment",
    "at",
]


def _node_row(graph, node, change, start, stop, at, other=None, previous=None, kind=None) -> dict:
    data = graph.nodes[node]
    return {
        "period_start": start,
        "period_end": stop,
        "change": change,
        "component": node,
        "other": other,
        "previous": previous,
        "kind": kind,
        "component_type": data.get("component_type", node.partition("/")[0]),
        "environment": data.get("environment", "unknown"),
        "at": at,
    }


def transient_rows(before: nx.DiGraph, after: nx.DiGraph, state, start, stop) -> list[dict]:
    """Edges added during the period and gone again by its end (`edge_transient`)."""
    rows, seen = [], set()
    for at, comp, key, kind in state.added:
        if ":" in key:  # a name link: resolved only against a whole graph
            continue
        c = state.latest.get(comp)
        target = state.resolve(key, c.environment) if c is not None else key
        if after.has_edge(comp, target) or before.has_edge(comp, target) or (comp, target, kind) in seen:
            continue
        seen.add((comp, target, kind))
        graph = after if comp in after else before
        if comp in graph:
            rows.append(_node_row(graph, comp, "edge_transient", start, stop, at, target, None, kind))
    return rows


def diff_rows(before: nx.DiGraph, after: nx.DiGraph, start, stop, drifted) -> list[dict]:
    rows = []
    for node in sorted(set(after) - set(before)):
        if after.nodes[node].get("known"):
            rows.append(_node_row(after, node, "node_added", start, stop, after.nodes[node]["since"]))
    for node in sorted(set(before) - set(after)):
        if before.nodes[node].get("known"):
            rows.append(_node_row(before, node, "node_removed", start, stop, stop))
    old = {(a, b, k) for a, b, d in before.edges(data=True) for k in d["kind"].split(",")}
    new = {(a, b, k) for a, b, d in after.edges(data=True) for k in d["kind"].split(",")}
    added, removed = new - old, old - new
    by_slot_removed: dict[tuple[str, str], list[str]] = {}
    for a, b, k in removed:
        by_slot_removed.setdefault((a, k), []).append(b)
    repointed = set()
    for a, b, k in sorted(added):
        olds = by_slot_removed.get((a, k))
        since = after.edges[a, b].get("since") or start
        if olds:
            prev = sorted(olds)[0]
            olds.remove(prev)
            repointed.add((a, prev, k))
            rows.append(_node_row(after, a, "edge_repointed", start, stop, since, b, prev, k))
        else:
            rows.append(_node_row(after, a, "edge_added", start, stop, since, b, None, k))
    for a, b, k in sorted(removed - repointed):
        graph = after if a in after else before
        at = after.nodes[a].get("last_deploy_at", stop) if a in after else stop
        rows.append(_node_row(graph, a, "edge_removed", start, stop, at, b, None, k))
    for comp, at in drifted:
        graph = after if comp in after else before
        if comp in graph:
            rows.append(_node_row(graph, comp, "drifted", start, stop, at))
    return rows
