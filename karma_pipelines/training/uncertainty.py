"""Bootstrap confidence intervals of a scorer's test metrics (rows resampled with
`sklearn.utils.resample`), and the per-commit view of per-deploy scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score
from sklearn.utils import resample

from karma_pipelines.training.metrics import capture_at

CI_METRICS = {
    "capture_at_10": lambda y, s: capture_at(y, s, 10),
    "pr_auc": lambda y, s: float(average_precision_score(y, s)),
}
RESAMPLES = 300
LEVEL = 0.95


def bootstrap_ci(
    y_true, scores, resamples: int = RESAMPLES, seed: int = 0, level: float = LEVEL
) -> dict[str, list[float]]:
    """{metric: [low, high]} for capture@10% and PR-AUC: the percentile interval over `resamples`
    resamples of the rows (a resample without a rollback, or without a non-rollback, is skipped)."""
    y = np.asarray(y_true, dtype=int)
    s = np.asarray(scores, dtype=float)
    values: dict[str, list[float]] = {name: [] for name in CI_METRICS}
    if len(y) == 0 or y.min() == y.max():
        return {name: [float("nan"), float("nan")] for name in CI_METRICS}
    index = np.arange(len(y))
    for i in range(resamples):
        pick = resample(index, replace=True, random_state=seed + i)
        yb = y[pick]
        if yb.min() == yb.max():
            continue
        for name, metric in CI_METRICS.items():
            values[name].append(metric(yb, s[pick]))
    tail = (1.0 - level) / 2.0 * 100.0
    return {
        name: [float(np.percentile(v, tail)), float(np.percentile(v, 100.0 - tail))] if v else [np.nan] * 2
        for name, v in values.items()
    }


def commit_view(commits: pd.Series, labels, scores: dict[str, np.ndarray]) -> tuple[np.ndarray, dict]:
    """(label per commit, {scorer: score per commit}): a commit is rolled back when any of its deploys
    is, and its score is the highest of its deploys' (what a CI gate on the commit sees)."""
    frame = pd.DataFrame({"commit": commits.to_numpy(), "label": np.asarray(labels, dtype=int)})
    for name, s in scores.items():
        frame[name] = np.asarray(s, dtype=float)
    grouped = frame.groupby("commit", sort=False).max()
    return grouped["label"].to_numpy(), {name: grouped[name].to_numpy() for name in scores}
