"""Which config patterns go with long-lived components (long times between rollbacks or failures)?

Incidents: a deploy that failed or was rolled back (`common.incidents`). Survival: for each component,
the times between its incidents, from its first deploy, the last one censored at the end of the history
(or at its deletion), estimated with Kaplan–Meier.

Patterns (`config_patterns`): component type, environment, config fields that are set, and safe
field values, never secrets. Because configs change over time, a component's timeline is cut at every
deploy into spells with the config in force; a rollback counts against the config it undid (the spell
it ends), a failed deploy against its own config. Each pattern gets its incident rate ratio (Poisson,
log-exposure offset, errors clustered by component) with Benjamini–Hochberg q-values.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from karma_pipelines.insights.common import (
    UTC,
    InsightResult,
    component_info,
    empty_plot,
    end_of_history,
    fmt,
    incidents,
    md_table,
    new_figure,
    note_axes,
    save_figure,
    summary_text,
)
from karma_pipelines.insights.config_patterns import MIN_COMPONENTS, pattern_table
from karma_pipelines.insights.stats import kaplan_meier, km_median


@dataclass(frozen=True)
class ConfigLongevity(InsightResult):
    patterns: pd.DataFrame  # one row per pattern, longest-lived (lowest incident rate ratio) first
    survival: pd.DataFrame  # Kaplan–Meier of days between incidents: overall and per environment
    gaps: pd.DataFrame  # one row per time between incidents of a component (censored at the end)
    spells: pd.DataFrame  # component timelines cut at every deploy, with incidents and config

    MAIN = "patterns"


def component_gaps(deploys: pd.DataFrame, end: pd.Timestamp) -> pd.DataFrame:
    """Times between a component's incidents (first deploy → incident → incident → … → end)."""
    cols = ["component", "component_type", "environment", "start", "stop", "days", "event"]
    info = component_info(deploys)
    bad = incidents(deploys)
    rows = []
    for comp in info.itertuples(index=False):
        stop_at = min(comp.deleted_at, end) if pd.notna(comp.deleted_at) else end
        times = sorted(set(bad.loc[bad["component"] == comp.component, "at"]))
        times = [t for t in times if comp.first_deploy_at <= t <= stop_at]
        bounds = [comp.first_deploy_at, *times]
        for i, start in enumerate(bounds):
            event = i < len(times)
            stop = times[i] if event else stop_at
            rows.append((comp.component, comp.component_type, comp.environment, start, stop, event))
    out = pd.DataFrame(rows, columns=[c for c in cols if c != "days"])
    out["start"], out["stop"] = out["start"].astype(UTC), out["stop"].astype(UTC)
    out["days"] = (out["stop"] - out["start"]).dt.total_seconds() / 86400.0
    out["event"] = out["event"].astype(bool)
    return out[cols]


def config_spells(deploys: pd.DataFrame, snapshots: pd.DataFrame, end: pd.Timestamp) -> pd.DataFrame:
    """Each component's timeline cut at every deploy: the config in force (its snapshot's deploy id and
    hash), the spell's length in days and the incidents charged to it."""
    cols = ["component", "component_type", "environment", "deploy_id", "start", "stop", "days", "incidents"]
    if deploys.empty:
        return pd.DataFrame({c: pd.Series(dtype=UTC if c in ("start", "stop") else object) for c in cols})
    info = component_info(deploys).set_index("component")
    ordered = deploys.sort_values(["deployed_at", "deploy_id"], kind="stable")
    # One config per instant: the last deploy at that time wins.
    at = ordered.drop_duplicates(["component", "deployed_at"], keep="last")
    frames = []
    for component, part in at.groupby("component", sort=True):
        stop_at = info.at[component, "deleted_at"]
        stop_at = end if pd.isna(stop_at) else min(stop_at, end)
        starts = part["deployed_at"].reset_index(drop=True)
        stops = pd.concat([starts.iloc[1:], pd.Series([stop_at])], ignore_index=True).astype(UTC)
        frames.append(
            pd.DataFrame(
                {
                    "component": component,
                    "component_type": info.at[component, "component_type"],
                    "environment": info.at[component, "environment"],
                    "deploy_id": part["deploy_id"].astype(str).to_numpy(),
                    "action": part["action"].astype(str).to_numpy(),
                    "start": starts.to_numpy(),
                    "stop": stops.to_numpy(),
                }
            )
        )
    spells = pd.concat(frames, ignore_index=True)
    spells["start"], spells["stop"] = spells["start"].astype(UTC), spells["stop"].astype(UTC)
    # Nothing runs after a delete; spells after the end are dropped.
    spells = spells[(spells["action"] != "delete") & (spells["start"] <= end)].reset_index(drop=True)
    spells["days"] = ((spells["stop"] - spells["start"]).dt.total_seconds() / 86400.0).clip(lower=0.0)
    spells["spell"] = np.arange(len(spells))
    bad = incidents(deploys)
    bad = bad[bad["at"] <= end].sort_values("at")
    index = spells[["component", "start", "spell"]].sort_values("start")
    charged = []
    # A rollback is charged to the spell it ends (started strictly before it), a failure to its own.
    for kind, exact in (("rollback", False), ("failure", True)):
        part = bad[bad["kind"] == kind]
        if len(part):
            hit = pd.merge_asof(
                part, index, left_on="at", right_on="start", by="component", allow_exact_matches=exact
            )
            if not exact:  # a rollback at a component's very first instant: charge its first spell
                first = index.groupby("component")["spell"].min()
                hit["spell"] = hit["spell"].fillna(hit["component"].map(first))
            charged.append(hit["spell"].dropna().astype(int))
    counts = pd.concat(charged).value_counts() if charged else pd.Series(dtype=int)
    spells["incidents"] = spells["spell"].map(counts).fillna(0).astype(int)
    return spells[cols]


def compute(
    events: pd.DataFrame | None,
    deploys: pd.DataFrame,
    snapshots: pd.DataFrame,
    as_of: pd.Timestamp | None = None,
    min_components: int = MIN_COMPONENTS,
) -> ConfigLongevity:
    """Survival between incidents, and the config patterns that go with fewer (or more) of them."""
    notes: list[str] = []
    end = end_of_history(events, deploys, as_of)
    if end is None or deploys.empty:
        notes.append("no deploys: no component timelines.")
        gaps = component_gaps(deploys.iloc[:0], pd.Timestamp.now(tz="UTC")) if deploys.empty else None
        spells = config_spells(deploys.iloc[:0], snapshots, pd.Timestamp.now(tz="UTC"))
    else:
        gaps = component_gaps(deploys, end)
        spells = config_spells(deploys, snapshots, end)
    patterns = pattern_table(spells, snapshots, min_components)
    groups = [("all", gaps), *gaps.groupby("environment", sort=True)] if len(gaps) else []
    survival = pd.concat(
        [kaplan_meier(g["days"], g["event"]).assign(group=name) for name, g in groups]
        or [kaplan_meier([], []).assign(group=pd.Series(dtype=object))],
        ignore_index=True,
    )
    overall = survival[survival["group"] == "all"]
    exposure = float(spells["days"].sum()) if len(spells) else 0.0
    n_incidents = int(spells["incidents"].sum()) if len(spells) else 0
    significant = patterns[patterns["q_value"] < 0.05] if len(patterns) else patterns
    numbers: dict[str, float | int] = {
        "components": int(gaps["component"].nunique()) if len(gaps) else 0,
        "gaps": len(gaps),
        "incidents": n_incidents,
        "km_median_days_between_incidents": km_median(overall),
        "mtbf_days": exposure / n_incidents if n_incidents else float("nan"),
        "patterns_tested": len(patterns),
        "patterns_longer_lived_q05": int((significant["direction"] == "longer-lived").sum()),
        "patterns_shorter_lived_q05": int((significant["direction"] == "shorter-lived").sum()),
    }
    for name, part in survival.groupby("group"):
        if name != "all":
            numbers[f"km_median_days_{name}"] = km_median(part)
    if not len(patterns) and len(spells):
        notes.append(
            f"no pattern is shared by at least {min_components} components (and missing on as many)."
        )
    lines = [
        f"{numbers['incidents']} incidents (failed or rolled-back deploys) over {fmt(exposure, '.0f')} "
        f"component-days: one every **{fmt(numbers['mtbf_days'], '.1f')} days** per component; median time "
        f"between a component's incidents **{fmt(numbers['km_median_days_between_incidents'], '.1f')} days** "
        "(Kaplan–Meier, censored at the end).",
    ]
    if len(patterns):
        longer = patterns[patterns["direction"] == "longer-lived"].head(8)
        shorter = patterns[patterns["direction"] == "shorter-lived"].head(8)
        shown = ["pattern", "components", "mtbf_days", "rest_mtbf_days", "adj_rate_ratio", "adj_ci_low",
                 "adj_ci_high", "q_value"]  # fmt: skip
        lines += [
            "",
            "**Patterns of longer-lived configs** (incident rate ratio within type and environment < 1)",
            "",
            md_table(longer[shown], 8),
        ]
        lines += ["", "**Patterns of shorter-lived configs**", "", md_table(shorter[shown], 8)]
    return ConfigLongevity(
        numbers=numbers,
        summary=summary_text("Config patterns and component longevity", lines, tuple(notes)),
        notes=tuple(notes),
        patterns=patterns,
        survival=survival,
        gaps=gaps,
        spells=spells,
    )


def plot(result: ConfigLongevity, path: Path | str, top: int = 8) -> Path:
    """Left: Kaplan–Meier of days between incidents. Right: rate ratios (within type) of top patterns."""
    fig = new_figure(12, 5)
    left, right = fig.subplots(1, 2, width_ratios=[1, 1.2])
    if result.gaps.empty:
        return empty_plot(path, "No component timelines.", result.notes)
    for group, km in result.survival.groupby("group", sort=True):
        t = np.concatenate([[0.0], km["time"].to_numpy(float)])
        s = np.concatenate([[1.0], km["survival"].to_numpy(float)])
        style = {"color": "black", "lw": 2} if group == "all" else {}
        left.step(t, s, where="post", label=f"{group} (median {fmt(km_median(km), '.1f')} d)", **style)
    left.set_xlabel("days since first deploy or last incident")
    left.set_ylabel("share without a new incident")
    left.set_title("Time between rollbacks / failures (Kaplan–Meier)")
    left.legend(fontsize=8)
    pats = result.patterns.astype({"adj_rate_ratio": float, "adj_p_value": float})
    rr = pats["adj_rate_ratio"]
    pats = pats[np.isfinite(rr) & (rr > 0) & np.isfinite(pats["adj_p_value"])]
    if pats.empty:
        note_axes(right, "No config pattern with enough support to compare.")
        return save_figure(fig, path)
    shown = pd.concat(
        [
            pats[pats["direction"] == "longer-lived"].head(top),
            pats[pats["direction"] == "shorter-lived"].head(top),
        ]
    )
    shown = shown.sort_values("adj_rate_ratio")
    y = np.arange(len(shown))
    rr = shown["adj_rate_ratio"].to_numpy(float)
    err = np.clip(
        np.vstack([rr - shown["adj_ci_low"].to_numpy(float), shown["adj_ci_high"].to_numpy(float) - rr]),
        0,
        None,
    )
    colors = np.where(rr < 1, "tab:green", "tab:red")
    right.errorbar(rr, y, xerr=np.nan_to_num(err), fmt="none", ecolor="grey", capsize=2)
    right.scatter(rr, y, c=colors, zorder=3)
    right.axvline(1.0, color="black", lw=0.8)
    right.set_xscale("log")
    right.set_yticks(y, [p[:40] for p in shown["pattern"]], fontsize=7)
    right.set_xlabel("rate ratio within type & environment (95% CI; <1 = longer-lived)")
    right.set_title("Config patterns")
    return save_figure(fig, path)
