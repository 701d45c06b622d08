"""One row per promotion to prod, read from the event log: its strategy class, the covariates known
when it was made, and its production health over the following weeks.

Strategy classes are those of `contracts.promotion_strategies` (their rules are there). Covariates:
the author of the (latest) promoted source deploy and whether the prod deploy invalidated
`MANY_DEPENDENTS` or more downstream components. Outcomes: `rolled_back` (at any delay),
`restore_hours` (deploy to its rollback), and `drifts_per_week` on the prod component from the
promotion to its next promotion or `FOLLOW_UP_DAYS`, whichever is first.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from karma_pipelines.contracts.promotion_strategies import (
    CLEAN_STREAK,
    ELIGIBLE_DAYS,
    FOLLOW_UP_DAYS,
    MIN_EXPOSURE_DAYS,
    classify,
)
from karma_pipelines.insights.common import attr, events_of

MANY_DEPENDENTS = 3
COLUMNS = [
    "deploy_id", "component", "deployed_at", "source_deploy_id", "source_component", "author",
    "soak_hours", "n_batched", "clean_streak", "dependents", "strategy", "eligible", "rolled_back",
    "restore_hours", "exposure_days", "drifts", "drift_eligible", "drifts_per_week",
]  # fmt: skip


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})


def _streaks(ordinary: pd.DataFrame, rows: pd.DataFrame) -> list[int]:
    """Clean deploys in a row (up to `CLEAN_STREAK`) of each source component ending with the source
    deploy; clean: succeeded and not rolled back before the promotion."""
    never = np.iinfo(np.int64).max
    times = _seconds(ordinary["deployed_at"])
    rolled = ordinary["rolled_back_at"]
    rolled_at = np.where(rolled.notna(), _seconds(rolled.fillna(pd.Timestamp(0, tz="UTC"))), never)
    succeeded = ordinary["outcome"].eq("succeeded").to_numpy()
    history = {
        key: (times[idx], succeeded[idx], rolled_at[idx])
        for key, idx in ordinary.groupby("component", sort=False).indices.items()
    }
    out = []
    for component, source_at, at in zip(
        rows["source_component"], _seconds(rows["source_at"]), _seconds(rows["deployed_at"]), strict=True
    ):
        times, succeeded, rolled_at = history[component]
        last = int(np.searchsorted(times, source_at, side="right"))
        n = 0
        for i in range(last - 1, max(-1, last - 1 - CLEAN_STREAK), -1):
            if not succeeded[i] or rolled_at[i] < at:
                break
            n += 1
        out.append(n)
    return out


def _seconds(ts: pd.Series) -> np.ndarray:
    return ((pd.to_datetime(ts, utc=True) - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy()


def _drifts(events: pd.DataFrame | None, rows: pd.DataFrame) -> list[int]:
    """drift.detected events of each row's component in (deploy, deploy + exposure]."""
    detected = events_of(events, "drift.detected")
    times = {k: np.sort(_seconds(g["ts"])) for k, g in detected.groupby("entity_id", sort=False)}
    lo = _seconds(rows["deployed_at"])
    hi = lo + (rows["exposure_days"].to_numpy() * 86400).round().astype(np.int64)
    out = []
    for component, a, b in zip(rows["component"], lo, hi, strict=True):
        ts = times.get(component, np.array([], dtype=np.int64))
        out.append(int(np.searchsorted(ts, b, side="right") - np.searchsorted(ts, a, side="right")))
    return out


def promotions_table(events: pd.DataFrame | None, deploys: pd.DataFrame, end: pd.Timestamp) -> pd.DataFrame:
    """Every promotion to prod in the log (empty without promotion events), with its class,
    covariates and outcomes; `eligible` when `ELIGIBLE_DAYS` of history follow it."""
    promotions = events_of(events, "promotion")
    if promotions.empty or deploys.empty:
        return _empty()
    promotions = promotions[attr(promotions, "to_environment") == "prod"]
    ids = attr(promotions, "deploy_id").astype(str)
    sources = [list(a.get("from_deploy_ids") or [a.get("from_deploy_id")]) for a in promotions["attrs"]]
    links = pd.DataFrame({"deploy_id": ids.to_numpy(), "sources": sources}).drop_duplicates("deploy_id")
    ordinary = deploys[~deploys["is_rollback"].astype(bool)].sort_values(["deployed_at", "deploy_id"])
    by_id = ordinary.set_index("deploy_id")
    prod = ordinary[(ordinary["environment"] == "prod") & (ordinary["action"] == "promote")]
    rows = prod.merge(links, on="deploy_id", how="inner").sort_values(["deployed_at", "deploy_id"])
    rows["source_deploy_id"] = [s[-1] for s in rows["sources"]]
    rows = rows[rows["source_deploy_id"].isin(by_id.index)].copy()
    if rows.empty:
        return _empty()
    source = by_id.loc[rows["source_deploy_id"]]
    rows["source_component"] = source["component"].to_numpy()
    rows["source_at"] = source["deployed_at"].to_numpy()
    rows["author"] = source["author"].astype(str).to_numpy()
    rows["soak_hours"] = (rows["deployed_at"] - rows["source_at"]).dt.total_seconds() / 3600.0
    rows["n_batched"] = [len(s) for s in rows["sources"]]
    rows["clean_streak"] = _streaks(ordinary, rows)
    invalidated = events_of(events, "downstream.invalidated")
    fanout = attr(invalidated, "deploy_id").astype(str).value_counts()
    rows["dependents"] = rows["deploy_id"].map(fanout).fillna(0).astype(int) >= MANY_DEPENDENTS
    rows["strategy"] = [
        classify(at.weekday(), at.hour, soak, n, streak)
        for at, soak, n, streak in zip(
            rows["deployed_at"], rows["soak_hours"], rows["n_batched"], rows["clean_streak"], strict=True
        )
    ]
    rows["eligible"] = rows["deployed_at"] + pd.Timedelta(days=ELIGIBLE_DAYS) <= end
    rows["rolled_back"] = rows["rolled_back_at"].notna()
    rows["restore_hours"] = rows["rollback_delay_hours"].where(rows["rolled_back"])
    nxt = prod.groupby("component")["deployed_at"].shift(-1).fillna(end)  # any next prod promotion
    window = rows["deploy_id"].map(dict(zip(prod["deploy_id"], nxt, strict=True))) - rows["deployed_at"]
    window = window.dt.total_seconds() / 86400.0
    rows["exposure_days"] = window.clip(upper=FOLLOW_UP_DAYS)
    rows["drifts"] = _drifts(events, rows)
    rows["drift_eligible"] = rows["eligible"] & (rows["exposure_days"] >= MIN_EXPOSURE_DAYS)
    rows["drifts_per_week"] = 7.0 * rows["drifts"] / rows["exposure_days"].where(rows["exposure_days"] > 0)
    return rows.sort_values(["deployed_at", "deploy_id"]).reset_index(drop=True)[COLUMNS]
