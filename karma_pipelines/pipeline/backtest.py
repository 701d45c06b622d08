"""Backtest the rollback forecaster on any source: the one path to validated tables, features, a
model trained on the past and judged on the future. The engine behind `karma-pipelines backtest`."""

from __future__ import annotations

import re

import pandas as pd

from karma_pipelines.features import build_rollback_features
from karma_pipelines.pipeline.forecaster import BASELINES, ForecasterEvaluation, evaluate_forecaster, pick
from karma_pipelines.pipeline.tables import SourceTables, counts
from karma_pipelines.training.spec import ModelSpec, load_spec

_DURATION = re.compile(r"^(?P<n>\d+(\.\d+)?)\s*(?P<unit>[hdw])$")


def parse_horizon(text: str) -> pd.Timedelta:
    """`7d`, `36h`, `2w` → a Timedelta; anything else is a ValueError naming the value."""
    match = _DURATION.match(text.strip())
    if not match or float(match["n"]) <= 0:
        raise ValueError(f"--horizon {text!r}: expected a positive number and a unit h, d or w (e.g. 7d)")
    hours = {"h": 1, "d": 24, "w": 168}[match["unit"]] * float(match["n"])
    return pd.Timedelta(hours=hours)


def parse_split_date(text: str | None) -> pd.Timestamp | None:
    if text is None:
        return None
    try:
        return pd.Timestamp(text, tz="UTC")
    except (TypeError, ValueError) as exc:
        raise ValueError(f"--split-date {text!r}: expected YYYY-MM-DD") from exc


def run_backtest(
    tables: SourceTables, split_date: str | None = None, spec: ModelSpec | None = None
) -> ForecasterEvaluation:
    """Train before the split date (default: the last 20% of time is the test period, after a gap of
    the tables' label horizon) and test after."""
    spec = spec or load_spec("rollback_forecaster")
    features = build_rollback_features(tables.deploy_records, tables.config_snapshots)
    return evaluate_forecaster(features, spec, tables.horizon, tables.world, parse_split_date(split_date))


def predictions_table(evaluation: ForecasterEvaluation, deploys: pd.DataFrame) -> pd.DataFrame:
    """deploy_id, commit, component, deployed_at, label, score: one row per test-period deploy."""
    predictions = evaluation.run.predictions
    commit = deploys.set_index("deploy_id")["change_id"]
    out = predictions.assign(commit=predictions["deploy_id"].map(commit))
    return out[["deploy_id", "commit", "component", "deployed_at", "label", "score"]]


def report(tables: SourceTables, evaluation: ForecasterEvaluation) -> dict:
    """The JSON shape of `backtest --json`."""
    run = evaluation.run
    result = {
        "counts": counts(tables),
        "model": pick(run.metrics),
        "baselines": {name: pick(evaluation.baselines[name]) for name in BASELINES},
        "split_at": run.split.split_at.isoformat(),
        "test_deploys": int(run.metrics["n"]),
        "test_base_rate": run.metrics["base_rate"],
        "ratios": evaluation.ratios(),
        "horizon_days": tables.horizon / pd.Timedelta(days=1),
    }
    if evaluation.oracle:
        result["oracle"] = pick(evaluation.oracle)
    return result
