"""Invalidations implied by a Git history's dependency graph (no event log): the components downstream
of the ones each commit deploys, transitively, in the configs in force at that time."""

from __future__ import annotations

from collections import defaultdict
from itertools import groupby

import pandas as pd


def graph_links(deploys: pd.DataFrame, snapshots: pd.DataFrame) -> pd.DataFrame:
    """Invalidations implied by the dependency graph: for each change (commit), the components downstream
    of the ones it deploys, transitively, using every component's config in force at that time."""
    links: list[dict] = []
    if deploys.empty:
        return pd.DataFrame(columns=["change_id", "cause", "downstream"])
    refs_of = dict(zip(snapshots["deploy_id"].astype(str), snapshots["references"], strict=True))
    ordered = deploys.sort_values(["deployed_at", "deploy_id"], kind="stable")
    rows = list(
        zip(
            ordered["deployed_at"],
            ordered["deploy_id"].astype(str),
            ordered["component"].astype(str),
            ordered["change_id"].astype(str),
            ordered["action"].astype(str),
            strict=True,
        )
    )
    upstream: dict[str, set[str]] = {}
    downstream: dict[str, set[str]] = defaultdict(set)
    for _, group in groupby(rows, key=lambda r: r[0]):
        group = list(group)
        # The configs written at this instant (one commit) are in force for its own closure.
        for _, deploy_id, component, _, action in group:
            refs = refs_of.get(deploy_id)
            new = set() if action == "delete" or refs is None else {str(r) for r in refs}
            for producer in upstream.get(component, set()) - new:
                downstream[producer].discard(component)
            for producer in new:
                downstream[producer].add(component)
            upstream[component] = new
        by_change: dict[str, list[str]] = defaultdict(list)
        for _, _, component, change_id, _ in group:
            by_change[change_id].append(component)
        for change_id, components in by_change.items():
            roots = set(components)
            for root in sorted(roots):
                seen: set[str] = set()
                todo = [root]
                while todo:
                    for consumer in downstream.get(todo.pop(), ()):
                        if consumer not in seen and consumer not in roots:
                            seen.add(consumer)
                            todo.append(consumer)
                links += [{"change_id": change_id, "cause": root, "downstream": d} for d in sorted(seen)]
    frame = pd.DataFrame(links, columns=["change_id", "cause", "downstream"])
    return frame.drop_duplicates(["change_id", "downstream"]).reset_index(drop=True)
