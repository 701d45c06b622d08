"""Backtest the rollback forecaster on a source: extract, validate, build features, train on the
past, evaluate on the future. The engine behind `karma-pipelines backtest`."""

from __future__ import annotations

import re

import pandas as pd

from karma_pipelines.features import build_rollback_features
from karma_pipelines.source_tables import SourceTables, counts, event_world_tables, git_tables
from karma_pipelines.training.baselines import baseline_metrics, ratios
from karma_pipelines.training.oracle import load_truth, oracle_metrics
from karma_pipelines.training.rollback_forecaster import ForecasterRun, train_forecaster
from karma_pipelines.training.spec import ModelSpec, load_spec

METRIC_KEYS = ("roc_auc", "pr_auc", "brier", "capture_at_5", "capture_at_10", "capture_at_50")
_DURATION = re.compile(r"^(?P<n>\d+(\.\d+)?)\s*(?P<unit>[hdw])$")


def parse_horizon(text: str) -> pd.Timedelta:
    """`7d`, `36h`, `2w` → a Timedelta; anything else is a ValueError naming the value."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"--horizon {text!r}: expected a number and a unit h, d or w (e.g. 7d)")
    hours = {"h": 1, "d": 24, "w": 168}[match["unit"]] * float(match["n"])
    return pd.Timedelta(hours=hours)


def run_backtest(
    tables: SourceTables, split_date: str | None = None, spec: ModelSpec | None = None
) -> ForecasterRun:
    """Train before the split date (default: the last 20% of time is the test period) and test after."""
    spec = spec or load_spec("rollback_forecaster")
    split_at = pd.Timestamp(split_date, tz="UTC") if split_date else None
    features = build_rollback_features(tables.deploy_records, tables.config_snapshots)
    return train_forecaster(features, spec, split_at=split_at)


def predictions_table(run: ForecasterRun, deploys: pd.DataFrame) -> pd.DataFrame:
    """deploy_id, commit, component, deployed_at, label, score: one row per test-period deploy."""
    commit = deploys.set_index("deploy_id")["change_id"]
    out = run.predictions.assign(commit=run.predictions["deploy_id"].map(commit))
    return out[["deploy_id", "commit", "component", "deployed_at", "label", "score"]]


def comparisons(tables: SourceTables, run: ForecasterRun) -> dict[str, dict[str, float]]:
    """Baselines on the model's test deploys, and the oracle when the source is a simulated world."""
    out = baseline_metrics(run.split.train, run.split.test, run.spec.target)
    truth = load_truth(tables.world_root) if tables.world_root else None
    if truth is not None:
        out["oracle"] = oracle_metrics(run.predictions, truth)
    return out


def report(tables: SourceTables, run: ForecasterRun) -> dict:
    """The JSON shape of `backtest --json`."""
    others = comparisons(tables, run)
    pick = lambda m: {k: m[k] for k in METRIC_KEYS}  # noqa: E731
    result = {
        "counts": counts(tables),
        "model": pick(run.metrics),
        "baselines": {name: pick(others[name]) for name in ("random", "parrot", "logistic")},
        "split_at": run.split.split_at.isoformat(),
        "test_deploys": int(run.metrics["n"]),
        "test_base_rate": run.metrics["base_rate"],
        "ratios": ratios(run.metrics, {k: v for k, v in others.items() if k != "oracle"}),
    }
    if "oracle" in others:
        result["oracle"] = pick(others["oracle"])
        result["ratios"].update(
            {f"{k}_vs_oracle": run.metrics[k] / others["oracle"][k] for k in ("roc_auc", "capture_at_10")}
        )
    return result


__all__ = ["SourceTables", "counts", "event_world_tables", "git_tables", "parse_horizon", "run_backtest"]
