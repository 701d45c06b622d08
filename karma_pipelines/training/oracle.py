"""The best achievable score on a simulated world: the true rollback probabilities as a forecast."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from karma_pipelines.training.metrics import evaluate

TRUTH_FILE = Path("ground_truth") / "deploys.csv"


def load_truth(world_root: Path) -> pd.DataFrame | None:
    """deploy_id → true_rollback_probability, or None for a world without ground truth."""
    path = Path(world_root) / TRUTH_FILE
    if not path.exists():
        return None
    return pd.read_csv(path, usecols=["deploy_id", "true_rollback_probability"])


def oracle_metrics(predictions: pd.DataFrame, truth: pd.DataFrame) -> dict[str, float]:
    """Metrics of the true probabilities on exactly the deploys (and labels) the model was judged on.

    Raises ValueError naming a deploy that has no ground truth."""
    joined = predictions.merge(truth, on="deploy_id", how="left")
    missing = joined.loc[joined["true_rollback_probability"].isna(), "deploy_id"]
    if len(missing):
        first = missing.iloc[0]
        raise ValueError(f"deploy {first!r} has no true_rollback_probability ({len(missing)} missing)")
    return evaluate(joined["label"], joined["true_rollback_probability"])
