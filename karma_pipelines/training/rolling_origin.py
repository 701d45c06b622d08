"""Rolling-origin backtest: several successive test windows, each trained only on what came before it
(minus a gap of one label horizon), its parameters chosen on the latest slice of that training period
(never on the window), each scorer judged per deploy and per commit (`view`)."""

from __future__ import annotations

import pandas as pd

from karma_pipelines.training.baselines import baseline_scores
from karma_pipelines.training.metrics import METRIC_KEYS, evaluate
from karma_pipelines.training.rollback_forecaster import TIME, model_population, train_forecaster
from karma_pipelines.training.spec import ModelSpec
from karma_pipelines.training.uncertainty import commit_view

METRICS = [*METRIC_KEYS, "base_rate"]
WINDOW_COLUMNS = [
    "window", "train_rows", "test_start", "test_end", "test_rows", "positives", "scorer", "view"
]  # fmt: skip


def rolling_origin(
    features: pd.DataFrame, spec: ModelSpec, horizon: pd.Timedelta, windows: int = 4, span: float = 0.5
) -> pd.DataFrame:
    """One row per (window, scorer) with the metrics: the last `span` of time is cut into `windows`
    equal test windows; a window without a rollback on either side is skipped."""
    rows = model_population(features, spec)
    times = rows[TIME]
    start, end = times.min(), times.max()
    edges = [start + (end - start) * (1 - span + span * i / windows) for i in range(windows + 1)]
    edges[-1] = end + pd.Timedelta(1, "ns")
    out = []
    for i in range(windows):
        window = features[features[TIME] < edges[i + 1]]
        try:
            run = train_forecaster(window, spec, horizon, split_at=edges[i])
        except ValueError:
            continue
        test = run.split.test
        labels = run.predictions["label"].to_numpy()
        scores = {"model": run.predictions["score"].to_numpy()}
        scores.update(baseline_scores(run.split.train, test, spec.target))
        commits = test["change_id"] if "change_id" in test.columns else test["deploy_id"]
        commit_labels, commit_scores = commit_view(commits, labels, scores)
        info = {
            "window": i + 1,
            "train_rows": len(run.split.train),
            "test_start": edges[i],
            "test_end": edges[i + 1],
            "test_rows": len(run.split.test),
            "positives": int(run.metrics["positives"]),
        }
        for view, y, by_scorer in (("deploy", labels, scores), ("commit", commit_labels, commit_scores)):
            for scorer, s in by_scorer.items():
                metrics = evaluate(y, s)
                out.append({**info, "scorer": scorer, "view": view, **{k: metrics[k] for k in METRICS}})
    return pd.DataFrame(out, columns=[*WINDOW_COLUMNS, *METRICS])
