"""What was known of earlier outcomes at each deploy: an outcome is known only once its revert has
landed (rolled back) or once the label horizon has passed without one (not rolled back).

Behind the point-in-time parrot ("the component's last known outcome"), the component's rollback rate
over known outcomes, and the recent reverts of the component."""

from __future__ import annotations

import numpy as np
import pandas as pd

from karma_pipelines.features.point_in_time import count_before, count_in_window

RECENT = pd.Timedelta(days=30)


def known_outcomes(d: pd.DataFrame, horizon: pd.Timedelta) -> pd.DataFrame:
    """component, known_at, positive: when each deploy's outcome became known, and what it was."""
    delay = d["rolled_back_at"] - d["deployed_at"]
    positive = delay.notna() & (delay <= horizon)
    known_at = d["deployed_at"] + horizon
    known_at = known_at.where(~positive, d["rolled_back_at"])
    return pd.DataFrame({"component": d["component"], "known_at": known_at, "positive": positive})


def outcome_features(d: pd.DataFrame, horizon: pd.Timedelta) -> pd.DataFrame:
    """comp_known_outcomes, comp_known_rollbacks, comp_pit_rollback_rate, last_known_outcome
    (NaN: none known yet), comp_reverts_30d: for deploys `d` in time order (index kept)."""
    t = d["deployed_at"]
    known = known_outcomes(d, horizon)
    out = pd.DataFrame(index=d.index)
    out["comp_known_outcomes"] = count_before(d["component"], t, known["component"], known["known_at"])
    pos = known[known["positive"]]
    out["comp_known_rollbacks"] = count_before(d["component"], t, pos["component"], pos["known_at"])
    out["comp_pit_rollback_rate"] = (out["comp_known_rollbacks"] + 0.1) / (out["comp_known_outcomes"] + 1)
    events = (
        known.assign(outcome=known["positive"].astype("float64"))
        .sort_values("known_at", kind="stable")[["component", "known_at", "outcome"]]
        .astype({"component": "string"})
    )
    queries = pd.DataFrame(
        {"component": d["component"].astype("string"), "t": t, "row": np.arange(len(d))}
    ).sort_values("t", kind="stable")
    joined = pd.merge_asof(
        queries, events, left_on="t", right_on="known_at", by="component", allow_exact_matches=False
    )
    last = np.full(len(d), np.nan)
    last[joined["row"].to_numpy()] = joined["outcome"].to_numpy(dtype="float64")
    out["last_known_outcome"] = last
    rb = d[d["rolled_back_at"].notna()]
    reverts = (rb["component"], rb["rolled_back_at"])
    out["comp_reverts_30d"] = count_in_window(d["component"], t, *reverts, RECENT)
    return out
