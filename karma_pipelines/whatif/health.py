"""How healthy each component has been as a producer, from the history before a time: its rollback rate
(labelled ordinary deploys rolled back), how often it changes (each change invalidates every reader),
and how often it drifts from its config. The rewrite finder compares producers with these."""

from __future__ import annotations

import pandas as pd

from karma_pipelines.insights.config_runtime_drift import drift_spells

DAYS_PER_MONTH = 30.0
COLUMNS = ["component", "deploys", "rollbacks", "rollback_rate", "changes", "months", "changes_per_month",
           "drifts_per_month"]  # fmt: skip


def producer_health(
    deploys: pd.DataFrame, events: pd.DataFrame | None = None, at: pd.Timestamp | None = None
) -> pd.DataFrame:
    """One row per component (COLUMNS), from deploys (and drift events) strictly before `at`; rates
    per month over the component's own life so far (first deploy to `at`)."""
    at = deploys["deployed_at"].max() + pd.Timedelta(seconds=1) if at is None else pd.Timestamp(at)
    past = deploys[deploys["deployed_at"] < at]
    if past.empty:
        return pd.DataFrame(columns=COLUMNS)
    ordinary = past[~past["is_rollback"].astype(bool)]
    known = ordinary[
        ordinary["labelled"].astype(bool)
        & (ordinary["rolled_back_at"].isna() | (ordinary["rolled_back_at"] < at))
    ]
    grouped = past.groupby("component")
    first = grouped["deployed_at"].min()
    months = ((at - first).dt.total_seconds() / 86400 / DAYS_PER_MONTH).clip(lower=1 / DAYS_PER_MONTH)
    changed = past[(past["n_fields_added"] + past["n_fields_removed"] + past["n_fields_changed"]) > 0]
    out = pd.DataFrame(index=first.index)
    out["deploys"] = known.groupby("component").size().reindex(out.index, fill_value=0)
    out["rollbacks"] = (
        known["rolled_back"]
        .fillna(False)
        .astype(bool)
        .groupby(known["component"])
        .sum()
        .reindex(out.index, fill_value=0)
    )
    out["rollback_rate"] = (out["rollbacks"] / out["deploys"].where(out["deploys"] > 0)).astype(float)
    out["changes"] = changed.groupby("component").size().reindex(out.index, fill_value=0)
    out["months"] = months
    out["changes_per_month"] = out["changes"] / months
    drifts = 0.0
    if events is not None and len(events):
        spells, _ = drift_spells(events, deploys, at)
        spells = spells[spells["detected_at"] < at]
        drifts = spells.groupby("component").size().reindex(out.index, fill_value=0)
    out["drifts_per_month"] = drifts / months if not isinstance(drifts, float) else 0.0
    return out.rename_axis("component").reset_index()[COLUMNS]
