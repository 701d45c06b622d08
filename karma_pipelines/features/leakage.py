"""Point-in-time audit: features recomputed from history cut at a moment must not change."""

from __future__ import annotations

import numpy as np
import pandas as pd

from karma_pipelines.contracts.schema import column_isin
from karma_pipelines.features.rollback import LABEL_COLUMNS, build_rollback_features


def history_as_of(
    deploys: pd.DataFrame, snapshots: pd.DataFrame, cutoff: pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The tables as they would have looked at `cutoff`: later deploys and later rollbacks unknown."""
    known = deploys[deploys["deployed_at"] < cutoff].copy()
    later = known["rolled_back_at"] >= cutoff
    known.loc[later, "rolled_back_at"] = pd.NaT
    return known, snapshots[column_isin(snapshots["deploy_id"], known["deploy_id"])]


def point_in_time_violations(
    deploys: pd.DataFrame, snapshots: pd.DataFrame, cutoff: pd.Timestamp, full: pd.DataFrame | None = None
) -> pd.DataFrame:
    """(deploy_id, feature, full_value, as_of_value) for every feature of a deploy before `cutoff`
    that differs between the full history and the history cut at `cutoff`. Empty means no leak."""
    full = full if full is not None else build_rollback_features(deploys, snapshots)
    cut = build_rollback_features(*history_as_of(deploys, snapshots, cutoff))
    features = [c for c in cut.columns if c not in LABEL_COLUMNS]
    left = full.set_index("deploy_id").loc[cut["deploy_id"], features]
    right = cut.set_index("deploy_id")[features]
    same = np.isclose(left.to_numpy(), right.to_numpy(), equal_nan=True)
    rows, cols = np.nonzero(~same)
    return pd.DataFrame(
        {
            "deploy_id": right.index[rows],
            "feature": [features[c] for c in cols],
            "full_value": left.to_numpy()[rows, cols],
            "as_of_value": right.to_numpy()[rows, cols],
        }
    )
