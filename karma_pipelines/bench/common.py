"""What the bench sections share: timing, peak memory, quality figures, the feature-group ablation."""

from __future__ import annotations

import dataclasses
import resource
import sys
import time
from contextlib import contextmanager

import pandas as pd

QUALITY_KEYS = ("roc_auc", "pr_auc", "capture_at_10")


@contextmanager
def timed(results: dict, name: str, rows: int | None = None):
    """Time the block into `results[name]` (seconds; rows per second when `rows`, or `out["rows"]`)."""
    start = time.perf_counter()
    out: dict = {}
    yield out
    seconds = time.perf_counter() - start
    entry = {"seconds": round(seconds, 3)}
    rows = out.get("rows", rows)
    if rows:
        entry["rows"] = int(rows)
        entry["rows_per_second"] = round(rows / seconds, 1)
    results[name] = entry


def peak_rss_mib() -> float:
    """This process's peak resident set in MiB. From getrusage: psutil reports only the current RSS
    on Linux (no peak), and ru_maxrss is in KiB on Linux, bytes on macOS."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2**20 if sys.platform == "darwin" else 2**10), 1)


def quality(evaluation) -> dict:
    """Headline test metrics of the model and of every other scorer (baselines, oracle) of a
    `ForecasterEvaluation`, the test size and base rate."""
    run = evaluation.run
    out = {
        f"{name}_{k}": round(metrics[k], 4)
        for name, metrics in evaluation.scorers().items()
        for k in QUALITY_KEYS
    }
    out["test_deploys"] = int(run.metrics["n"])
    out["base_rate"] = round(run.metrics["base_rate"], 4)
    return out


def rounded(values: dict[str, float], digits: int = 3) -> dict[str, float]:
    return {k: round(v, digits) for k, v in values.items()}


def with_changes(spec, **changes):
    """A copy of a model spec with some fields changed (a dataclass or a pydantic model)."""
    if hasattr(spec, "model_copy"):
        return spec.model_copy(update=changes)
    return dataclasses.replace(spec, **changes)


def ablation(features: pd.DataFrame, spec, horizon: pd.Timedelta) -> dict:
    """Test metrics without each feature group (same split): what each group contributes."""
    from karma_pipelines.training.rollback_forecaster import train_forecaster

    full = train_forecaster(features, spec, horizon).metrics
    out = {"all": {k: round(full[k], 4) for k in QUALITY_KEYS}}
    for group in spec.feature_groups:
        m = train_forecaster(features, spec.without_groups(group), horizon).metrics
        out[f"without {group}"] = {k: round(m[k] - full[k], 4) for k in QUALITY_KEYS}
    return out
