"""The rollback label: a deploy is rolled back when a later rollback undoes it in the horizon."""

from __future__ import annotations

import re

import pandas as pd

DEFAULT_HORIZON = pd.Timedelta(days=7)


def apply_rollback_labels(
    deploys: pd.DataFrame,
    horizon: pd.Timedelta = DEFAULT_HORIZON,
    as_of: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Fill `labelled`, `rolled_back`, `rolled_back_at` and `rollback_delay_hours`.

    `as_of` is the end of the observed history (default: the last deploy). A deploy younger than
    the horizon at `as_of` is unlabelled unless it has already been rolled back, because its
    outcome could still change. The first rollback that names a deploy counts.
    """
    out = deploys.copy()
    as_of = as_of if as_of is not None else out["deployed_at"].max()
    rollbacks = (
        out.loc[out["is_rollback"] & out["rolls_back"].notna(), ["rolls_back", "deployed_at"]]
        .sort_values("deployed_at")
        .drop_duplicates("rolls_back")
        .set_index("rolls_back")["deployed_at"]
    )
    # An empty mapping would give an object/float column: build the timestamps explicitly.
    rolled_back_at = (
        pd.Series(pd.NaT, index=out.index, dtype=out["deployed_at"].dtype)
        if rollbacks.empty
        else out["deploy_id"].map(rollbacks)
    )
    for column, values in label_columns(out["deployed_at"], rolled_back_at, horizon, as_of).items():
        out[column] = values
    return out


def label_columns(
    deployed_at: pd.Series, rolled_back_at: pd.Series, horizon: pd.Timedelta, as_of: pd.Timestamp
) -> dict[str, pd.Series]:
    """`labelled`, `rolled_back`, `rolled_back_at`, `rollback_delay_hours` of deploys from when each was
    deployed and first rolled back (NaT: not yet), as known at `as_of` (see `apply_rollback_labels`)."""
    delay = rolled_back_at - deployed_at
    within = delay.notna() & (delay <= horizon)
    horizon_passed = deployed_at + horizon <= as_of
    labelled = (horizon_passed | within).astype(bool)
    label = pd.Series(within, index=deployed_at.index, dtype="boolean")
    label[~labelled] = pd.NA
    return {
        "labelled": labelled,
        "rolled_back": label,
        "rolled_back_at": rolled_back_at.astype("datetime64[ns, UTC]"),
        "rollback_delay_hours": (delay.dt.total_seconds() / 3600.0).astype("float64"),
    }


_DURATION = re.compile(r"^(?P<n>\d+(\.\d+)?)\s*(?P<unit>[hdw])$")


def parse_horizon(text: str) -> pd.Timedelta:
    """`7d`, `36h`, `2w` → a Timedelta; anything else is a ValueError naming the value."""
    match = _DURATION.match(text.strip())
    if not match or float(match["n"]) <= 0:
        raise ValueError(f"--horizon {text!r}: expected a positive number and a unit h, d or w (e.g. 7d)")
    hours = {"h": 1, "d": 24, "w": 168}[match["unit"]] * float(match["n"])
    return pd.Timedelta(hours=hours)
