"""Evaluation metrics for a rollback forecast: ranking, calibration, and capture@k."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

CAPTURE_LEVELS = (5, 10, 50)


# The headline metrics of every scorer, in the public order (`backtest --json`, tables, metadata).
METRIC_KEYS = ("roc_auc", "pr_auc", "brier", "capture_at_5", "capture_at_10", "capture_at_50")


def capture_at(y_true: np.ndarray, scores: np.ndarray, percent: float) -> float:
    """Share of all positives found among the riskiest `percent`% of rows (ties broken by order)."""
    y = np.asarray(y_true, dtype=float)
    if y.sum() == 0:
        return float("nan")
    k = max(1, int(np.ceil(len(y) * percent / 100.0)))
    top = np.argsort(-np.asarray(scores, dtype=float), kind="stable")[:k]
    return float(y[top].sum() / y.sum())


def evaluate(y_true, scores) -> dict[str, float]:
    """ROC-AUC, PR-AUC (with the base rate beside it), Brier score and capture@5/10/50%."""
    y = np.asarray(y_true, dtype=int)
    s = np.asarray(scores, dtype=float)
    both = len(np.unique(y)) == 2
    metrics = {
        "roc_auc": float(roc_auc_score(y, s)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, s)) if both else float("nan"),
        "brier": float(brier_score_loss(y, np.clip(s, 0, 1))),
        "base_rate": float(y.mean()) if len(y) else float("nan"),
        "n": int(len(y)),
        "positives": int(y.sum()),
    }
    for level in CAPTURE_LEVELS:
        metrics[f"capture_at_{level}"] = capture_at(y, s, level)
    return metrics


def calibration_table(y_true, scores, bins: int = 10) -> pd.DataFrame:
    """Mean predicted against observed rate per decile of score (`sklearn.calibration.calibration_curve`
    with quantile bins; empty bins, e.g. of tied scores, are left out). `n`: rows in the bin."""
    y = np.asarray(y_true, dtype=int)
    p = np.clip(np.asarray(scores, dtype=float), 0.0, 1.0)
    if len(y) == 0:
        return pd.DataFrame(
            {c: pd.Series(dtype=float) for c in ("bin", "n", "mean_predicted", "observed_rate")}
        )
    observed, predicted = calibration_curve(y, p, n_bins=bins, strategy="quantile", pos_label=1)
    # The rows per bin, by the same quantile edges (calibration_curve does not return them).
    counts = np.bincount(
        np.searchsorted(np.percentile(p, np.linspace(0, 100, bins + 1))[1:-1], p), minlength=bins
    )
    return pd.DataFrame(
        {
            "bin": np.arange(len(observed)),
            "n": counts[counts > 0],
            "mean_predicted": predicted,
            "observed_rate": observed,
        }
    )
