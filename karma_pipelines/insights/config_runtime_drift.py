"""Drift between config and runtime, by environment and component type, over time.

A drift starts at `drift.detected` and ends at the `drift.resolved` with the same `drift_id`. A drift
still open at the end of the history is right-censored there, so durations are summarised with a
Kaplan–Meier estimate (the median of the resolved ones alone would be too short). "How much drift" is
also given as the share of component time spent drifted. A Git history has no runtime observations:
everything here is empty, with a note.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from karma_pipelines.insights.common import (
    NO_EVENTS,
    UTC,
    InsightResult,
    _alive_hours,
    _overlap_hours,
    attr,
    component_info,
    empty_plot,
    end_of_history,
    events_of,
    fmt,
    md_table,
    new_figure,
    save_figure,
    summary_text,
    weeks_between,
)
from karma_pipelines.insights.stats import kaplan_meier, km_median

DRIFT_COLUMNS = [
    "drift_id",
    "component",
    "component_type",
    "environment",
    "detected_at",
    "resolved_at",
    "duration_hours",
    "resolved",
    "censored",
    "n_fields",
]
GROUP_COLUMNS = [
    "level",
    "group",
    "components",
    "drifts",
    "resolved",
    "open_at_end",
    "km_median_hours",
    "mean_resolved_hours",
    "drifted_share",
    "drifts_per_component_month",
]
WEEK_COLUMNS = [
    "level",
    "group",
    "week",
    "detected",
    "resolved",
    "open_at_week_end",
    "drifted_hours",
    "drifted_share",
]


@dataclass(frozen=True)
class ConfigRuntimeDrift(InsightResult):
    by_group: pd.DataFrame  # per environment, per component type, and overall ("all")
    drifts: pd.DataFrame  # one row per drift: duration, resolved or censored at the end
    weekly: pd.DataFrame  # per week and environment / component type: detected, resolved, open, drifted share
    survival: pd.DataFrame  # Kaplan–Meier of drift duration, overall and per environment

    MAIN = "by_group"


def drift_spells(
    events: pd.DataFrame | None, deploys: pd.DataFrame, end: pd.Timestamp | None
) -> tuple[pd.DataFrame, int]:
    """(one row per drift, number of resolutions without a detection)."""
    found = events_of(events, "drift.detected", "drift.resolved")
    if found.empty or end is None:
        empty = pd.DataFrame(
            {c: pd.Series(dtype=UTC if c.endswith("_at") else object) for c in DRIFT_COLUMNS}
        )
        return empty, 0
    found = found.assign(drift_id=attr(found, "drift_id"), fields=attr(found, "fields"))
    found["drift_id"] = found["drift_id"].fillna(found["entity_id"] + "@" + found["ts"].astype(str))
    detected = found[found["event_type"] == "drift.detected"].drop_duplicates("drift_id")
    resolved = (
        found[found["event_type"] == "drift.resolved"].drop_duplicates("drift_id").set_index("drift_id")
    )
    orphans = int((~resolved.index.isin(detected["drift_id"])).sum())
    info = component_info(deploys).set_index("component")
    env_from_tags = detected["tags"].map(lambda t: t.get("Environment"))
    out = pd.DataFrame(
        {
            "drift_id": detected["drift_id"].astype(str),
            "component": detected["entity_id"].astype(str),
            "detected_at": detected["ts"],
            "n_fields": detected["fields"].map(lambda f: len(f) if isinstance(f, list) else 0).astype(int),
        }
    )
    out["component_type"] = out["component"].map(lambda c: str(c).partition("/")[0])
    out["environment"] = (
        out["component"].map(info["environment"]).fillna(env_from_tags).fillna("unknown").astype(str)
    )
    resolved_at = out["drift_id"].map(resolved["ts"]).astype(UTC)
    # A resolution before its detection (clock skew) counts as immediate.
    resolved_at = resolved_at.where(
        resolved_at.isna() | (resolved_at >= out["detected_at"]), out["detected_at"]
    )
    out["resolved_at"] = resolved_at.where(resolved_at <= end)
    out["resolved"] = out["resolved_at"].notna()
    out["censored"] = ~out["resolved"]
    stop = out["resolved_at"].fillna(end)
    out["duration_hours"] = ((stop - out["detected_at"]).dt.total_seconds() / 3600.0).clip(lower=0.0)
    return out[DRIFT_COLUMNS].sort_values("detected_at", kind="stable").reset_index(drop=True), orphans


def compute(
    events: pd.DataFrame | None,
    deploys: pd.DataFrame,
    snapshots: pd.DataFrame | None = None,
    as_of: pd.Timestamp | None = None,
) -> ConfigRuntimeDrift:
    """Drift counts, durations (censored at the end) and drifted share per environment, type and week."""
    notes: list[str] = []
    end = end_of_history(events, deploys, as_of)
    drifts, orphans = drift_spells(events, deploys, end)
    info = component_info(deploys)
    if events is None or len(events) == 0:
        notes.append(f"{NO_EVENTS}: drift needs runtime observations (drift.detected / drift.resolved).")
    elif drifts.empty:
        notes.append("the event log has no drift.detected events.")
    if orphans:
        notes.append(f"{orphans} drift.resolved events without a drift.detected were ignored.")
    if drifts.empty:
        by_group = pd.DataFrame(columns=GROUP_COLUMNS)
        weekly = pd.DataFrame(columns=WEEK_COLUMNS)
        survival = kaplan_meier([], []).assign(group=pd.Series(dtype=object))
    else:
        by_group = _by_group(drifts, info, end)
        weekly = _weekly(drifts, info, end)
        survival = pd.concat(
            [
                kaplan_meier(f["duration_hours"], f["resolved"]).assign(group=g)
                for g, f in [("all", drifts), *drifts.groupby("environment", sort=True)]
            ],
            ignore_index=True,
        )
    overall = by_group[by_group["level"] == "all"]
    numbers: dict[str, float | int] = {
        "drifts": len(drifts),
        "resolved": int(drifts["resolved"].sum()) if len(drifts) else 0,
        "open_at_end": int(drifts["censored"].sum()) if len(drifts) else 0,
        "km_median_hours": float(overall["km_median_hours"].iloc[0]) if len(overall) else float("nan"),
        "mean_resolved_hours": float(overall["mean_resolved_hours"].iloc[0])
        if len(overall)
        else float("nan"),
        "drifted_share": float(overall["drifted_share"].iloc[0]) if len(overall) else float("nan"),
    }
    for row in by_group[by_group["level"] == "environment"].itertuples(index=False):
        numbers[f"km_median_hours_{row.group}"] = float(row.km_median_hours)
        numbers[f"drifted_share_{row.group}"] = float(row.drifted_share)
        numbers[f"drifts_{row.group}"] = int(row.drifts)
    if drifts.empty:
        lines = ["No drift to report."]
    else:
        lines = [
            f"**{numbers['drifts']}** drifts; median time to resolve "
            f"**{fmt(numbers['km_median_hours'], '.1f')} h** "
            f"(Kaplan–Meier, {numbers['open_at_end']} still open at the end and censored); components spent "
            f"**{fmt(100 * numbers['drifted_share'], '.2f')}%** of their time drifted.",
            "",
            "**By environment and component type**",
            "",
            md_table(by_group, 30),
        ]
    return ConfigRuntimeDrift(
        numbers=numbers,
        summary=summary_text("Config / runtime drift", lines, tuple(notes)),
        notes=tuple(notes),
        by_group=by_group,
        drifts=drifts,
        weekly=weekly,
        survival=survival,
    )


def _levels(frame: pd.DataFrame, info: pd.DataFrame):
    """("all", "all", rows), then each environment and component type (with or without drift)."""
    yield "all", "all", frame
    for level in ("environment", "component_type"):
        groups = sorted(set(info[level].astype(str)) | set(frame[level].astype(str)))
        for group in groups:
            yield level, group, frame[frame[level] == group]


def _by_group(drifts: pd.DataFrame, info: pd.DataFrame, end: pd.Timestamp) -> pd.DataFrame:
    info = info.assign(alive_hours=_alive_hours(info, end))
    rows = []
    for level, group, part in _levels(drifts, info):
        comps = info if level == "all" else info[info[level] == group]
        alive = float(comps["alive_hours"].sum())
        drifted = float(part["duration_hours"].sum())
        km = kaplan_meier(part["duration_hours"], part["resolved"])
        resolved = part[part["resolved"]]
        rows.append(
            {
                "level": level,
                "group": group,
                "components": len(comps),
                "drifts": len(part),
                "resolved": len(resolved),
                "open_at_end": int(part["censored"].sum()),
                "km_median_hours": km_median(km),
                "mean_resolved_hours": float(resolved["duration_hours"].mean()) if len(resolved) else np.nan,
                "drifted_share": drifted / alive if alive > 0 else np.nan,
                "drifts_per_component_month": len(part) / (alive / 24 / 30) if alive > 0 else np.nan,
            }
        )
    return pd.DataFrame(rows, columns=GROUP_COLUMNS)


def _weekly(drifts: pd.DataFrame, info: pd.DataFrame, end: pd.Timestamp) -> pd.DataFrame:
    start = (
        min(drifts["detected_at"].min(), info["first_deploy_at"].min())
        if len(info)
        else drifts["detected_at"].min()
    )
    rows = []
    for week in weeks_between(start, end):
        stop = min(week + pd.Timedelta(days=7), end)
        for level, group, part in _levels(drifts, info):
            comps = info if level == "all" else info[info[level] == group]
            alive = float(_alive_hours(comps, end, week, stop).sum())
            drifted = float(_overlap_hours(part, end, week, stop).sum())
            open_now = (part["detected_at"] < stop) & (
                part["resolved_at"].isna() | (part["resolved_at"] >= stop)
            )
            rows.append(
                {
                    "level": level,
                    "group": group,
                    "week": week,
                    "detected": int(part["detected_at"].between(week, stop, inclusive="left").sum()),
                    "resolved": int(part["resolved_at"].between(week, stop, inclusive="left").sum()),
                    "open_at_week_end": int(open_now.sum()),
                    "drifted_hours": drifted,
                    "drifted_share": drifted / alive if alive > 0 else np.nan,
                }
            )
    return pd.DataFrame(rows, columns=WEEK_COLUMNS)


def plot(result: ConfigRuntimeDrift, path: Path | str) -> Path:
    """Left: share of component time drifted per week and environment. Right: time to resolve (KM)."""
    fig = new_figure(11, 4.5)
    left, right = fig.subplots(1, 2)
    if result.drifts.empty:
        return empty_plot(path, "No drift to draw.", result.notes)
    weekly = result.weekly[result.weekly["level"].isin(["environment", "all"])]
    for group, part in weekly.groupby("group", sort=True):
        style = {"color": "black", "lw": 2} if group == "all" else {}
        left.plot(
            part["week"].dt.tz_localize(None),
            100 * part["drifted_share"],
            marker="o",
            ms=3,
            label=group,
            **style,
        )
    left.set_ylabel("% of component time drifted")
    left.set_title("Drift over time (per week)")
    left.legend(fontsize=8)
    left.tick_params(axis="x", rotation=30, labelsize=8)
    for group, km in result.survival.groupby("group", sort=True):
        t = np.concatenate([[0.0], km["time"].to_numpy(float)])
        s = np.concatenate([[1.0], km["survival"].to_numpy(float)])
        style = {"color": "black", "lw": 2} if group == "all" else {}
        right.step(t, s, where="post", label=f"{group} (median {fmt(km_median(km), '.0f')} h)", **style)
        cens = km[km["censored"] > 0]
        right.plot(cens["time"], cens["survival"], "|", ms=8, color=style.get("color", "grey"))
    right.set_xlabel("hours since detected")
    right.set_ylabel("share still drifted")
    right.set_title("Time to resolve a drift (Kaplan–Meier; | = open at end)")
    right.legend(fontsize=8)
    return save_figure(fig, path)
