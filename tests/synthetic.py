"""A synthetic feature table with a known signal, for training and registry tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from karma_pipelines.training.spec import load_spec


def feature_table(n: int = 3000, seed: int = 0, signal: float = 2.5) -> pd.DataFrame:
    """Rows shaped like `rollback_features`: every spec feature, a time, and a label that
    depends on `n_fields_touched`, `is_off_hours` and `in_degree` (signal=0: pure noise)."""
    rng = np.random.default_rng(seed)
    spec = load_spec("rollback_forecaster")
    frame = pd.DataFrame({f: rng.poisson(2, n).astype(float) for f in spec.features})
    frame["is_off_hours"] = rng.integers(0, 2, n).astype(float)
    logit = -3 + signal * (
        0.5 * frame["n_fields_touched"] + frame["is_off_hours"] + 0.3 * frame["in_degree"] - 1.6
    )
    y = rng.random(n) < 1 / (1 + np.exp(-logit))
    frame.insert(0, "deploy_id", [f"d{i:05d}" for i in range(n)])
    frame.insert(
        1, "deployed_at", pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(np.arange(n) * 60, "min")
    )
    frame.insert(2, "component", "vpc/x-dev")
    frame["is_rollback"] = False
    frame["labelled"] = True
    frame["rolled_back"] = pd.array(y, dtype="boolean")
    return frame
