"""DORA-style delivery numbers per environment and week (what Apache DevLake and Four Keys show).

- Deployment frequency: deploys per week and per day (rollbacks are the restore, not a deployment).
- Change failure rate: failed changes / deploys whose fate is known. A change failed when it was rolled
  back within the label horizon (`rolled_back`) or its outcome is `failed`. Deploys younger than the
  horizon are left out of the rate, failed or not (counted as `unlabelled`), so recent weeks are not
  biased towards the failures that show early.
- Time to restore: hours from a deploy to its rollback (`rollback_delay_hours`), median and mean, over
  the rolled-back deploys of the week. A failed deploy that was never rolled back has no restore time.
Weeks are ISO weeks (Monday 00:00 UTC) of the deploy; every week between an environment's first and
last deploy is listed, quiet weeks included.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from karma_pipelines.insights.common import (
    InsightResult,
    empty_plot,
    end_of_history,
    fmt,
    md_table,
    new_figure,
    save_figure,
    summary_text,
    week_start,
    weeks_between,
)
from karma_pipelines.insights.stats import wilson_interval

WEEK_COLUMNS = [
    "environment",
    "week",
    "deploys",
    "deploys_per_day",
    "known",
    "unlabelled",
    "failures",
    "change_failure_rate",
    "restores",
    "median_restore_hours",
    "mean_restore_hours",
]
ENV_COLUMNS = [
    "environment",
    "weeks",
    "deploys",
    "deploys_per_day",
    "deploys_per_week",
    "known",
    "failures",
    "change_failure_rate",
    "cfr_ci_low",
    "cfr_ci_high",
    "restores",
    "median_restore_hours",
    "mean_restore_hours",
    "p90_restore_hours",
]


@dataclass(frozen=True)
class ChangeFailureRate(InsightResult):
    weekly: pd.DataFrame  # per environment and week
    by_environment: pd.DataFrame  # per environment over the whole history, and "all"

    MAIN = "weekly"


def deploy_outcomes(deploys: pd.DataFrame) -> pd.DataFrame:
    """Ordinary deploys with `failed` (True / False / NA = not known yet) and `restore_hours`.

    A deploy's fate is known once the label horizon has passed. That point is read from the labels: a
    deploy that is labelled and not rolled back is past the horizon, and so is every earlier deploy.
    (Counting the young deploys that already failed, without their siblings that have not failed yet,
    would bias the recent rate upwards.)"""
    ordinary = deploys[~deploys["is_rollback"].astype(bool)].copy()
    outcome_failed = ordinary["outcome"].astype(str).eq("failed")
    rolled = ordinary["rolled_back"].astype("boolean").fillna(False).astype(bool)
    settled = ordinary["labelled"].astype(bool) & ~rolled
    cutoff = ordinary.loc[settled, "deployed_at"].max() if settled.any() else None
    known = (
        ordinary["deployed_at"] <= cutoff if cutoff is not None else pd.Series(False, index=ordinary.index)
    )
    failed = (rolled | outcome_failed).astype("boolean")
    failed[~known] = pd.NA
    ordinary["failed"] = failed
    ordinary["restore_hours"] = ordinary["rollback_delay_hours"].where(rolled)
    ordinary["week"] = week_start(ordinary["deployed_at"])
    return ordinary


def _summarise(part: pd.DataFrame) -> dict:
    known = part["failed"].notna()
    failures = int(part["failed"].fillna(False).astype(bool).sum())
    restore = part["restore_hours"].dropna()
    return {
        "deploys": len(part),
        "known": int(known.sum()),
        "unlabelled": int((~known).sum()),
        "failures": failures,
        "change_failure_rate": failures / known.sum() if known.sum() else np.nan,
        "restores": len(restore),
        "median_restore_hours": float(restore.median()) if len(restore) else np.nan,
        "mean_restore_hours": float(restore.mean()) if len(restore) else np.nan,
        "p90_restore_hours": float(restore.quantile(0.9)) if len(restore) else np.nan,
    }


def compute(
    events: pd.DataFrame | None,
    deploys: pd.DataFrame,
    snapshots: pd.DataFrame | None = None,
    as_of: pd.Timestamp | None = None,
) -> ChangeFailureRate:
    """Deployment frequency, change failure rate and time to restore per environment and week."""
    notes: list[str] = []
    end = end_of_history(events, deploys, as_of)
    outcomes = deploy_outcomes(deploys) if len(deploys) else pd.DataFrame()
    if outcomes.empty or end is None:
        notes.append("no deploys: no delivery numbers.")
        weekly = pd.DataFrame(columns=WEEK_COLUMNS)
        by_env = pd.DataFrame(columns=ENV_COLUMNS)
    else:
        weekly_rows, env_rows = [], []
        for env, part in [*outcomes.groupby("environment", sort=True), ("all", outcomes)]:
            weeks = weeks_between(part["deployed_at"].min(), part["deployed_at"].max())
            if env != "all":
                for week in weeks:
                    in_week = part[part["week"] == week]
                    row = _summarise(in_week)
                    row.pop("p90_restore_hours")
                    weekly_rows.append(
                        {"environment": env, "week": week, **row, "deploys_per_day": row["deploys"] / 7}
                    )
            # Frequency over the span actually covered: first deploy to the end of the history.
            days = max((end - part["deployed_at"].min()).total_seconds() / 86400.0, 1.0)
            summary = _summarise(part)
            lo, hi = wilson_interval(summary["failures"], summary["known"])
            env_rows.append(
                {
                    "environment": env,
                    "weeks": len(weeks),
                    **summary,
                    "deploys_per_day": summary["deploys"] / days,
                    "deploys_per_week": 7 * summary["deploys"] / days,
                    "cfr_ci_low": lo,
                    "cfr_ci_high": hi,
                }
            )
        weekly = pd.DataFrame(weekly_rows)[WEEK_COLUMNS]
        by_env = pd.DataFrame(env_rows)[ENV_COLUMNS]
        n_unlabelled = int(outcomes["failed"].isna().sum())
        if n_unlabelled:
            notes.append(
                f"{n_unlabelled} recent deploys are younger than the label horizon: left out of the change "
                "failure rate (their fate is not known yet)."
            )
    numbers: dict[str, float | int] = {}
    for row in by_env.itertuples(index=False):
        suffix = "" if row.environment == "all" else f"_{row.environment}"
        numbers[f"deploys{suffix}"] = int(row.deploys)
        numbers[f"deploys_per_day{suffix}"] = float(row.deploys_per_day)
        numbers[f"change_failure_rate{suffix}"] = float(row.change_failure_rate)
        numbers[f"median_restore_hours{suffix}"] = float(row.median_restore_hours)
    if len(by_env):
        total = by_env[by_env["environment"] == "all"].iloc[0]
        lines = [
            f"**{fmt(total['deploys_per_day'], '.1f')} deploys/day** ({total['deploys']} deploys); "
            f"change failure rate **{fmt(100 * total['change_failure_rate'], '.1f')}%** "
            f"(95% CI {fmt(100 * total['cfr_ci_low'], '.1f')}–{fmt(100 * total['cfr_ci_high'], '.1f')}%); "
            f"median time to restore **{fmt(total['median_restore_hours'], '.1f')} h** "
            f"(mean {fmt(total['mean_restore_hours'], '.1f')} h).",
            "",
            "**By environment**",
            "",
            md_table(by_env, 10),
            "",
            "**Last weeks**",
            "",
            md_table(weekly.sort_values(["week", "environment"]).tail(9), 9),
        ]
    else:
        lines = ["No deploys."]
    return ChangeFailureRate(
        numbers=numbers,
        summary=summary_text(
            "DORA: deployment frequency, change failure rate, time to restore", lines, tuple(notes)
        ),
        notes=tuple(notes),
        weekly=weekly,
        by_environment=by_env,
    )


def plot(result: ChangeFailureRate, path: Path | str) -> Path:
    """Per environment and week: deploys, change failure rate, median time to restore."""
    fig = new_figure(12, 4.2)
    axes = fig.subplots(1, 3)
    if result.weekly.empty:
        return empty_plot(path, "No deploys.", result.notes)
    for env, part in result.weekly.groupby("environment", sort=True):
        weeks = part["week"].dt.tz_localize(None)
        axes[0].plot(weeks, part["deploys"], marker="o", ms=3, label=env)
        axes[1].plot(weeks, 100 * part["change_failure_rate"], marker="o", ms=3, label=env)
        axes[2].plot(weeks, part["median_restore_hours"], marker="o", ms=3, label=env)
    for ax, title, ylabel in zip(
        axes,
        ("Deployment frequency", "Change failure rate", "Time to restore"),
        ("deploys per week", "% of deploys failed or rolled back", "median hours to rollback"),
        strict=True,
    ):
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        ax.tick_params(axis="x", rotation=30, labelsize=7)
        ax.legend(fontsize=7)
    return save_figure(fig, path)
