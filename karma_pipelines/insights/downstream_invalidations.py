"""Which changes caused the most downstream invalidations?

Event log: a change invalidates the components named by `downstream.invalidated` events with its
correlation id, and the `affected_components` of its `change.result` (unless the change was rejected).
Git history (no events): the invalidated components of a commit are the components downstream of the
ones it deploys, directly or transitively, in the dependency graph of the configs in force at that
time (config_snapshots `references`), which is how Karma computes `affected_components`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from karma_pipelines.insights.common import (
    NO_EVENTS,
    UTC,
    InsightResult,
    attr,
    empty_plot,
    events_of,
    fmt,
    has_events,
    md_table,
    new_figure,
    save_figure,
    summary_text,
)
from karma_pipelines.insights.dependency_graph import graph_links

TOP = 15
CHANGE_COLUMNS = [
    "change_id",
    "component",
    "component_type",
    "environment",
    "requested_at",
    "deploys",
    "n_invalidated",
    "invalidated",
    "method",
]


@dataclass(frozen=True)
class DownstreamInvalidations(InsightResult):
    changes: pd.DataFrame  # one row per change, most invalidations first
    causes: pd.DataFrame  # per upstream (changed) component
    invalidated: pd.DataFrame  # per downstream component: how often it was invalidated, by how many causes
    links: pd.DataFrame  # change_id, cause, downstream: one row per invalidation

    MAIN = "changes"


def _event_links(events: pd.DataFrame, deploys: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(changes, links) from the event log."""
    inval = events_of(events, "downstream.invalidated")
    results = events_of(events, "change.result")
    requests = events_of(events, "change.requested")
    change_component = {}
    for frame in (results, requests):
        change_component.update(dict(zip(frame["correlation_id"], frame["entity_id"], strict=True)))
    links = pd.DataFrame(
        {
            "change_id": inval["correlation_id"],
            "cause": attr(inval, "cause").fillna(inval["correlation_id"].map(change_component)),
            "downstream": inval["entity_id"],
        }
    )
    status = attr(results, "status").fillna("applied").astype(str)
    declared = []
    for change, entity, affected, st in zip(
        results["correlation_id"],
        results["entity_id"],
        attr(results, "affected_components"),
        status,
        strict=True,
    ):
        if st == "rejected" or not isinstance(affected, list):
            continue
        declared += [{"change_id": change, "cause": entity, "downstream": str(d)} for d in affected]
    links = pd.concat([links, pd.DataFrame(declared, columns=links.columns)], ignore_index=True)
    links = links.dropna(subset=["change_id", "downstream"]).drop_duplicates(["change_id", "downstream"])
    # Every change that was requested, resolved or deployed is a candidate (most invalidate nothing).
    first_seen = pd.concat(
        [
            pd.DataFrame({"change_id": requests["correlation_id"], "at": requests["ts"]}),
            pd.DataFrame({"change_id": results["correlation_id"], "at": results["ts"]}),
            pd.DataFrame({"change_id": deploys["change_id"].astype(str), "at": deploys["deployed_at"]}),
        ]
    ).dropna(subset=["change_id"])
    first = first_seen.groupby("change_id")["at"].min()
    ordered = deploys.sort_values("deployed_at").drop_duplicates("change_id")
    fallback = dict(zip(ordered["change_id"].astype(str), ordered["component"].astype(str), strict=True))
    changes = pd.DataFrame({"requested_at": first}).rename_axis("change_id").reset_index()
    changes["change_id"] = changes["change_id"].astype(str)
    changes["component"] = [change_component.get(c) or fallback.get(c) for c in changes["change_id"]]
    return changes, links


def _git_changes(deploys: pd.DataFrame) -> pd.DataFrame:
    grouped = deploys.sort_values("deployed_at").groupby("change_id", sort=False)
    return (
        pd.DataFrame(
            {
                "requested_at": grouped["deployed_at"].min(),
                "component": grouped["component"].agg(lambda s: ", ".join(sorted(set(s)))),
            }
        )
        .rename_axis("change_id")
        .reset_index()
    )


def compute(
    events: pd.DataFrame | None,
    deploys: pd.DataFrame,
    snapshots: pd.DataFrame,
    as_of: pd.Timestamp | None = None,
    top: int = TOP,
) -> DownstreamInvalidations:
    """Rank changes and upstream components by the downstream invalidations they caused."""
    notes: list[str] = []
    if has_events(events):
        changes, links = _event_links(events, deploys)
        method = "events"
    else:
        changes, links = _git_changes(deploys), graph_links(deploys, snapshots)
        method = "graph"
        notes.append(
            f"{NO_EVENTS}: invalidations are inferred from the dependency graph in config_snapshots "
            "(`references`, transitive), not observed."
        )
    meta = deploys.sort_values("deployed_at").drop_duplicates("component").set_index("component")
    n_deploys = deploys.groupby("change_id").size()
    per_change = links.groupby("change_id")["downstream"].agg(lambda s: sorted(set(s)))
    changes["deploys"] = changes["change_id"].map(n_deploys).fillna(0).astype(int)
    changes["invalidated"] = changes["change_id"].map(per_change)
    changes["invalidated"] = [v if isinstance(v, list) else [] for v in changes["invalidated"]]
    changes["n_invalidated"] = changes["invalidated"].map(len).astype(int)
    first_component = changes["component"].fillna("").astype(str).str.split(", ").str[0]
    changes["component_type"] = first_component.map(lambda c: c.partition("/")[0])
    changes["environment"] = first_component.map(meta["environment"]).fillna("unknown").astype(str)
    changes["method"] = method
    changes["requested_at"] = changes["requested_at"].astype(UTC)
    changes = (
        changes.reindex(columns=CHANGE_COLUMNS)
        .sort_values(
            ["n_invalidated", "requested_at", "change_id"], ascending=[False, True, True], kind="stable"
        )
        .reset_index(drop=True)
    )

    causes = _causes(changes, links, meta)
    invalidated = (
        links.groupby("downstream")
        .agg(times_invalidated=("change_id", "nunique"), distinct_causes=("cause", "nunique"))
        .reset_index()
        .rename(columns={"downstream": "component"})
        .sort_values(["times_invalidated", "component"], ascending=[False, True], kind="stable")
        .reset_index(drop=True)
    )
    total = int(changes["n_invalidated"].sum())
    hit = changes[changes["n_invalidated"] > 0]
    top_decile = max(1, int(round(0.1 * len(hit)))) if len(hit) else 0
    numbers: dict[str, float | int] = {
        "changes": len(changes),
        "changes_with_invalidations": len(hit),
        "invalidations": total,
        "mean_invalidations_per_change": float(changes["n_invalidated"].mean())
        if len(changes)
        else float("nan"),
        "max_invalidations": int(changes["n_invalidated"].max()) if len(changes) else 0,
        "share_from_top_10pct_changes": (
            float(hit["n_invalidated"].head(top_decile).sum() / total) if total else float("nan")
        ),
        "components_invalidated": len(invalidated),
    }
    if deploys.empty:
        notes.append("no deploys: nothing to rank.")
    lines = []
    if len(hit):
        best = changes.iloc[0]
        lines.append(
            f"Top change **{best['change_id']}** ({best['component']}) invalidated "
            f"**{best['n_invalidated']}** downstream components. {len(hit)} of {len(changes)} changes "
            f"invalidated anything ({total} invalidations); the top 10% of those caused "
            f"{fmt(100 * numbers['share_from_top_10pct_changes'], '.0f')}% of them."
        )
        lines.append(
            f"Top upstream component: **{causes.iloc[0]['component']}** "
            f"({causes.iloc[0]['invalidations']} invalidations over {causes.iloc[0]['changes']} changes)."
        )
    else:
        lines.append("No change invalidated any downstream component.")
    shown = changes.head(top).assign(invalidated=lambda f: f["invalidated"].map(_short_list))
    lines += ["", "**Top changes**", "", md_table(shown.drop(columns=["method"]), top)]
    lines += ["", "**Top upstream components**", "", md_table(causes, top)]
    return DownstreamInvalidations(
        numbers=numbers,
        summary=summary_text("Downstream invalidations by change", lines, tuple(notes)),
        notes=tuple(notes),
        changes=changes,
        causes=causes,
        invalidated=invalidated,
        links=links.reset_index(drop=True),
    )


def _short_list(items: list[str], limit: int = 4) -> str:
    return ", ".join(items[:limit]) + (f" (+{len(items) - limit})" if len(items) > limit else "")


def _causes(changes: pd.DataFrame, links: pd.DataFrame, meta: pd.DataFrame) -> pd.DataFrame:
    cols = ["component", "component_type", "environment", "changes", "changes_with_invalidations",
            "invalidations", "mean_per_change", "max_per_change"]  # fmt: skip
    per_cause = links.groupby(["cause", "change_id"]).size().rename("n").reset_index()
    if per_cause.empty:
        return pd.DataFrame(columns=cols)
    exploded = changes.assign(cause=changes["component"].fillna("").str.split(", ")).explode("cause")
    n_changes = exploded.groupby("cause")["change_id"].nunique()
    agg = per_cause.groupby("cause").agg(
        changes_with_invalidations=("change_id", "nunique"),
        invalidations=("n", "sum"),
        max_per_change=("n", "max"),
    )
    agg["changes"] = n_changes.reindex(agg.index).fillna(agg["changes_with_invalidations"]).astype(int)
    agg["mean_per_change"] = agg["invalidations"] / agg["changes"]
    agg = agg.rename_axis("component").reset_index()
    agg["component_type"] = agg["component"].map(lambda c: str(c).partition("/")[0])
    agg["environment"] = agg["component"].map(meta["environment"]).fillna("unknown").astype(str)
    return (
        agg[cols]
        .sort_values(["invalidations", "component"], ascending=[False, True], kind="stable")
        .reset_index(drop=True)
    )


def plot(result: DownstreamInvalidations, path: Path | str, top: int = TOP) -> Path:
    """Bars: the changes and the upstream components with the most invalidations."""
    changes = result.changes[result.changes["n_invalidated"] > 0].head(top)
    if changes.empty:
        return empty_plot(path, "No downstream invalidations.", result.notes)
    fig = new_figure(11, 5)
    left, right = fig.subplots(1, 2)
    labels = [
        f"{c} · {str(comp)[:28]}" for c, comp in zip(changes["change_id"], changes["component"], strict=True)
    ]
    left.barh(labels[::-1], changes["n_invalidated"].to_numpy()[::-1], color="tab:red")
    left.set_xlabel("downstream components invalidated")
    left.set_title(f"Top {len(changes)} changes")
    left.tick_params(axis="y", labelsize=7)
    causes = result.causes.head(top)
    right.barh(
        causes["component"].to_numpy()[::-1], causes["invalidations"].to_numpy()[::-1], color="tab:orange"
    )
    right.set_xlabel("invalidations caused (all changes)")
    right.set_title(f"Top {len(causes)} upstream components")
    right.tick_params(axis="y", labelsize=7)
    method = result.changes["method"].iloc[0]
    fig.suptitle(f"Which changes invalidate the most downstream components ({method})")
    return save_figure(fig, path)
