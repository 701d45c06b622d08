"""Rolling-origin backtest: several successive test windows, each trained only on what came before it
(minus a gap of one label horizon)."""

from __future__ import annotations

import pandas as pd

from karma_pipelines.training.baselines import baseline_metrics
from karma_pipelines.training.metrics import METRIC_KEYS
from karma_pipelines.training.rollback_forecaster import TIME, model_population, train_forecaster
from karma_pipelines.training.spec import ModelSpec

METRICS = [*METRIC_KEYS, "base_rate"]
WINDOW_COLUMNS = ["window", "train_rows", "test_start", "test_end", "test_rows", "positives", "scorer"]


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
        base = baseline_metrics(run.split.train, run.split.test, spec.target)
        info = {
            "window": i + 1,
            "train_rows": len(run.split.train),
            "test_start": edges[i],
            "test_end": edges[i + 1],
            "test_rows": len(run.split.test),
            "positives": int(run.metrics["positives"]),
        }
        for scorer, metrics in {"model": run.metrics, **base}.items():
            out.append({**info, "scorer": scorer, **{k: metrics[k] for k in METRICS}})
    return pd.DataFrame(out, columns=[*WINDOW_COLUMNS, *METRICS])
