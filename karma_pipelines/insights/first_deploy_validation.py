"""Which component types and components fail validation on their first deploy?

A component's first deploy is its earliest deploy that is not a rollback. Event log: it failed
validation when a `validation.failed` event names its deploy id (or, without a deploy id, has the
component as entity and the deploy's change as correlation id). Git history (no validation events):
a first deploy "failed" when its outcome is failed or it was later rolled back. Both are compared
with the same measure on the component type's later deploys.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from karma_pipelines.insights.common import (
    NO_EVENTS,
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
from karma_pipelines.insights.stats import wilson_interval

COMPONENT_COLUMNS = [
    "component",
    "component_type",
    "environment",
    "deploy_id",
    "deployed_at",
    "action",
    "validation_failed",
    "checks",
    "outcome",
    "rolled_back",
    "failed_or_rolled_back",
    "failed_first_deploy",
]
TYPE_COLUMNS = [
    "component_type",
    "components",
    "failed",
    "rate",
    "ci_low",
    "ci_high",
    "later_deploys",
    "later_failed",
    "later_rate",
    "relative_risk",
]


@dataclass(frozen=True)
class FirstDeployValidation(InsightResult):
    by_type: (
        pd.DataFrame
    )  # per component type: first deploys, failed, rate (Wilson 95% CI), later-deploy rate
    components: pd.DataFrame  # one row per component: its first deploy and whether it failed
    by_check: pd.DataFrame  # validation checks that failed on first deploys (event log only)
    measure: str  # "validation.failed" or "failed_or_rolled_back"

    MAIN = "by_type"


def _validation_failures(events: pd.DataFrame, deploys: pd.DataFrame) -> pd.DataFrame:
    """deploy_id, check for every validation.failed event, linked to a deploy."""
    val = events_of(events, "validation.failed")
    deploy_id = attr(val, "deploy_id")
    by_change = deploys.drop_duplicates(["component", "change_id"]).set_index(["component", "change_id"])
    fallback = pd.Series(
        [
            by_change["deploy_id"].get((e, c)) if (e, c) in by_change.index else None
            for e, c in zip(val["entity_id"], val["correlation_id"], strict=True)
        ],
        index=val.index,
        dtype=object,
    )
    out = pd.DataFrame(
        {"deploy_id": deploy_id.fillna(fallback), "check": attr(val, "check").fillna("unknown")}
    )
    return out.dropna(subset=["deploy_id"]).astype({"deploy_id": str, "check": str})


def compute(
    events: pd.DataFrame | None,
    deploys: pd.DataFrame,
    snapshots: pd.DataFrame | None = None,
    as_of: pd.Timestamp | None = None,
) -> FirstDeployValidation:
    """First-deploy failure rate per component type, with the failing components and checks."""
    notes: list[str] = []
    with_events = has_events(events)
    ordinary = deploys[~deploys["is_rollback"].astype(bool)].sort_values(
        ["deployed_at", "deploy_id"], kind="stable"
    )
    ordinary = ordinary.assign(
        is_first=~ordinary["component"].duplicated(),
        rolled=ordinary["rolled_back_at"].notna(),
        failed_outcome=ordinary["outcome"].astype(str).eq("failed"),
    )
    ordinary["failed_or_rolled_back"] = ordinary["rolled"] | ordinary["failed_outcome"]
    if with_events:
        failures = _validation_failures(events, deploys)
        checks = failures.groupby("deploy_id")["check"].agg(lambda s: ", ".join(sorted(set(s))))
        ordinary["validation_failed"] = ordinary["deploy_id"].astype(str).isin(set(failures["deploy_id"]))
        ordinary["checks"] = ordinary["deploy_id"].astype(str).map(checks).fillna("")
        ordinary["failed_first_deploy"] = ordinary["validation_failed"]
        measure = "validation.failed"
    else:
        failures = pd.DataFrame(columns=["deploy_id", "check"])
        ordinary["validation_failed"] = pd.NA
        ordinary["checks"] = ""
        ordinary["failed_first_deploy"] = ordinary["failed_or_rolled_back"]
        measure = "failed_or_rolled_back"
        notes.append(
            f"{NO_EVENTS}: no validation results; a first deploy counts as failed when its outcome is failed "
            "or it was rolled back."
        )
    first = ordinary[ordinary["is_first"]]
    components = (
        first.drop(columns=["rolled_back"])
        .rename(columns={"rolled": "rolled_back"})
        .reindex(columns=COMPONENT_COLUMNS)
        .astype({"validation_failed": "boolean", "failed_first_deploy": bool, "rolled_back": bool})
        .sort_values(["failed_first_deploy", "component_type", "component"], ascending=[False, True, True])
        .reset_index(drop=True)
    )
    later = ordinary[~ordinary["is_first"]]
    by_type = _by_type(first, later)
    first_ids = set(first["deploy_id"].astype(str))
    by_check = (
        failures[failures["deploy_id"].isin(first_ids)]
        .groupby("check")
        .size()
        .rename("first_deploys")
        .to_frame()
        .join(failures.groupby("check").size().rename("all_deploys"), how="outer")
        .fillna(0)
        .astype(int)
        .rename_axis("check")
        .reset_index()
        .sort_values(["first_deploys", "all_deploys"], ascending=False, kind="stable")
        .reset_index(drop=True)
    )
    if not with_events:
        notes.append("no validation checks without an event log (by_check is empty).")
    n_first, n_failed = len(first), int(first["failed_first_deploy"].sum())
    n_later, n_later_failed = len(later), int(later["failed_first_deploy"].sum())
    rate = n_failed / n_first if n_first else float("nan")
    later_rate = n_later_failed / n_later if n_later else float("nan")
    lo, hi = wilson_interval(n_failed, n_first)
    numbers: dict[str, float | int] = {
        "first_deploys": n_first,
        "failed_first_deploys": n_failed,
        "first_deploy_failure_rate": rate,
        "first_deploy_failure_rate_ci_low": lo,
        "first_deploy_failure_rate_ci_high": hi,
        "later_deploys": n_later,
        "later_deploy_failure_rate": later_rate,
        "relative_risk_first_vs_later": rate / later_rate if later_rate and later_rate > 0 else float("nan"),
        "component_types": len(by_type),
        "uses_validation_events": int(with_events),
    }
    if deploys.empty:
        notes.append("no deploys: no first deploys to judge.")
    label = "failed validation" if with_events else "failed or were rolled back"
    lines = [
        f"**{n_failed} of {n_first}** first deploys {label} ({fmt(100 * rate, '.1f')}%, 95% CI "
        f"{fmt(100 * lo, '.1f')}–{fmt(100 * hi, '.1f')}%), against {fmt(100 * later_rate, '.1f')}% of later "
        f"deploys (relative risk {fmt(numbers['relative_risk_first_vs_later'], '.2f')}).",
    ]
    if len(by_type) and n_failed:
        worst = by_type.iloc[0]
        lines.append(
            f"Highest rate: **{worst['component_type']}** ({worst['failed']}/{worst['components']}, "
            f"{fmt(100 * worst['rate'], '.0f')}%)."
        )
    failed_components = components[components["failed_first_deploy"]]
    lines += ["", "**By component type**", "", md_table(by_type, 20)]
    shown = failed_components[["component", "environment", "deploy_id", "checks", "rolled_back"]]
    lines += ["", "**Components whose first deploy failed**", "", md_table(shown, 20)]
    if len(by_check):
        lines += ["", "**Failed checks**", "", md_table(by_check, 10)]
    return FirstDeployValidation(
        numbers=numbers,
        summary=summary_text("Failures on first deploy", lines, tuple(notes)),
        notes=tuple(notes),
        by_type=by_type,
        components=components,
        by_check=by_check,
        measure=measure,
    )


def _by_type(first: pd.DataFrame, later: pd.DataFrame) -> pd.DataFrame:
    if first.empty:
        return pd.DataFrame(columns=TYPE_COLUMNS)
    out = first.groupby("component_type").agg(
        components=("component", "size"), failed=("failed_first_deploy", "sum")
    )
    later_agg = later.groupby("component_type").agg(
        later_deploys=("component", "size"), later_failed=("failed_first_deploy", "sum")
    )
    out = out.join(later_agg).fillna(0).astype(int)
    out["rate"] = out["failed"] / out["components"]
    ci = [wilson_interval(k, n) for k, n in zip(out["failed"], out["components"], strict=True)]
    out["ci_low"] = [c[0] for c in ci]
    out["ci_high"] = [c[1] for c in ci]
    out["later_rate"] = np.where(
        out["later_deploys"] > 0, out["later_failed"] / out["later_deploys"].clip(1), np.nan
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        out["relative_risk"] = np.where(out["later_rate"] > 0, out["rate"] / out["later_rate"], np.nan)
    return (
        out.rename_axis("component_type")
        .reset_index()[TYPE_COLUMNS]
        .sort_values(["rate", "failed", "component_type"], ascending=[False, False, True], kind="stable")
        .reset_index(drop=True)
    )


def plot(result: FirstDeployValidation, path: Path | str) -> Path:
    """Failure rate on first deploy per component type (95% Wilson CI) beside the later-deploy rate."""
    fig = new_figure(10, 4.5)
    ax = fig.subplots()
    frame = result.by_type
    if frame.empty:
        return empty_plot(path, "No first deploys.", result.notes)
    x = np.arange(len(frame))
    rate = frame["rate"].to_numpy(float)
    err = np.vstack([rate - frame["ci_low"].to_numpy(float), frame["ci_high"].to_numpy(float) - rate])
    err = np.clip(np.nan_to_num(err), 0, None)
    ax.bar(x, rate, color="tab:red", alpha=0.8, label="first deploy (95% CI)")
    ax.errorbar(x, rate, yerr=err, fmt="none", ecolor="black", capsize=3, lw=1)
    ax.scatter(
        x, frame["later_rate"].to_numpy(float), marker="D", color="tab:blue", zorder=3, label="later deploys"
    )
    labels = [f"{t}\n(n={n})" for t, n in zip(frame["component_type"], frame["components"], strict=True)]
    ax.set_xticks(x, labels, rotation=35, ha="right", fontsize=8)
    ax.set_ylabel("share failed" if result.measure == "validation.failed" else "share failed or rolled back")
    ax.set_ylim(0, 1)
    ax.legend(loc="upper right")
    what = "fail validation" if result.measure == "validation.failed" else "fail or are rolled back"
    ax.set_title(f"Which component types {what} on their first deploy")
    return save_figure(fig, path)
