"""Backtest the rollback forecaster on any source: the one path to validated tables, features, a
model trained on the past and judged on the future. The engine behind `karma-pipelines backtest`."""

from __future__ import annotations

from contextlib import nullcontext

import pandas as pd

from karma_pipelines.features import LABEL_COLUMNS, build_rollback_features
from karma_pipelines.pipeline.forecaster import BASELINES, ForecasterEvaluation, evaluate_forecaster, pick
from karma_pipelines.pipeline.tables import SourceTables, counts
from karma_pipelines.training.rollback_forecaster import TIME
from karma_pipelines.training.spec import ModelSpec, load_spec


def parse_split_date(text: str | None) -> pd.Timestamp | None:
    if text is None:
        return None
    try:
        return pd.Timestamp(text, tz="UTC")
    except (TypeError, ValueError) as exc:
        raise ValueError(f"--split-date {text!r}: expected YYYY-MM-DD") from exc


def run_backtest(
    tables: SourceTables,
    split_date: str | None = None,
    spec: ModelSpec | None = None,
    progress=None,
    features: pd.DataFrame | None = None,
) -> ForecasterEvaluation:
    """Train before the split date (default: the last 20% of time is the test period, after a gap of
    the tables' label horizon) and test after. `progress` (apps.progress.Progress) reports the stages;
    `features`: `backtest_features(tables)`, when made already (a caller that lets the snapshots go
    before training)."""
    spec = spec or load_spec("rollback_forecaster")
    split_at = parse_split_date(split_date)
    if features is None:
        features = backtest_features(tables, progress)
    with _stage(progress, "training LightGBM and the baselines, testing on the held-out period"):
        evaluation = evaluate_forecaster(features, spec, tables.horizon, tables.world, split_at)
    if progress is not None:
        m = evaluation.run.metrics
        progress.note(f"trained: test ROC-AUC {m['roc_auc']:.3f} on {int(m['n']):,} deploys")
    return evaluation


def backtest_features(tables: SourceTables, progress=None) -> pd.DataFrame:
    """The point-in-time features of every deploy of `tables` (the only reader of its config snapshots)."""
    with _stage(progress, "building point-in-time features"):
        features = build_rollback_features(
            tables.deploy_records, tables.config_snapshots, horizon=tables.horizon
        )
    if progress is not None:
        n_features = len(features.columns.difference(LABEL_COLUMNS))
        progress.note(f"features: {len(features):,} deploys × {n_features}")
    return features


def _stage(progress, message: str):
    return progress.stage(message) if progress is not None else nullcontext()


def labelled_counts(deploys: pd.DataFrame) -> dict:
    """Labelled ordinary deploys (rollback deploys left out: they are the outcome, not a change),
    how many were rolled back and the rate: what `run` and `backtest` both report as "labelled"."""
    ordinary = deploys[~deploys["is_rollback"].astype(bool)]
    labelled = ordinary[ordinary["labelled"].astype(bool)]
    rolled = int(labelled["rolled_back"].astype(bool).sum())
    return {
        "labelled": len(labelled),
        "rolled_back": rolled,
        "rollback_rate": rolled / len(labelled) if len(labelled) else 0.0,
    }


def predictions_table(evaluation: ForecasterEvaluation, deploys: pd.DataFrame) -> pd.DataFrame:
    """deploy_id, commit, component, deployed_at, label, score: one row per test-period deploy."""
    predictions = evaluation.run.predictions
    commit = deploys.set_index("deploy_id")["change_id"]
    out = predictions.assign(commit=predictions["deploy_id"].map(commit))
    return out[["deploy_id", "commit", "component", "deployed_at", "label", "score"]]


def training_rows(evaluation: ForecasterEvaluation) -> pd.DataFrame:
    """The rows the model was trained on (early stopping's validation tail included), as LightGBM saw
    them: the spec's features, the label and the deploy time (`backtest --training-rows`). Numbers and
    categories only: no config value."""
    run = evaluation.run
    return run.split.train[[*run.spec.features, run.spec.target, TIME]].reset_index(drop=True)


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
    if evaluation.commit_level:
        # The per-commit view (what a CI gate on a commit sees): the same keys as "model".
        result["commit_level"] = pick(evaluation.commit_level["model"])
        result["commit_level_baselines"] = {name: pick(evaluation.commit_level[name]) for name in BASELINES}
        result["commit_level_ratios"] = evaluation.commit_ratios()
        result["test_commits"] = int(evaluation.commit_level["model"]["n"])
        result["test_commit_base_rate"] = evaluation.commit_level["model"]["base_rate"]
    if evaluation.intervals:
        result["intervals"] = evaluation.intervals
    return result


HEADLINE = (("roc_auc", "ROC-AUC"), ("pr_auc", "PR-AUC"), ("brier", "Brier"), ("capture_at_5", "capture@5%"),
            ("capture_at_10", "capture@10%"), ("capture_at_50", "capture@50%"))  # fmt: skip


def format_report(result: dict) -> str:
    """The human form of `backtest`: sizes, base rate, and model, baselines and oracle side by side."""
    c = result["counts"]
    rows = {"model (LightGBM)": result["model"], **result["baselines"]}
    if "oracle" in result:
        rows["oracle (true p)"] = result["oracle"]
    width = max(len(name) for name in rows)
    header = f"  {'':{width}}" + "".join(f"  {label:>11}" for _, label in HEADLINE)
    lines = [
        f"{c['commits']:,} commits, {c['deploys']:,} deploys, {c['labelled']:,} ordinary deploys labelled "
        f"({c['rolled_back']:,} rolled back; rollback deploys not counted)",
        f"split at {result['split_at']}; test period: {result['test_deploys']:,} deploys, "
        f"base rate {result['test_base_rate']:.3f} (label horizon {result['horizon_days']:g} days)",
        "",
        header,
    ]
    for name, metrics in rows.items():
        cells = "".join(f"  {_cell(metrics.get(key)):>11}" for key, _ in HEADLINE)
        lines.append(f"  {name:{width}}{cells}")
    if "commit_level" in result:
        lines += ["", f"  per commit (a commit's riskiest deploy; {result['test_commits']:,} test commits)"]
        commit_rows = {"model (LightGBM)": result["commit_level"], **result["commit_level_baselines"]}
        for name, metrics in commit_rows.items():
            cells = "".join(f"  {_cell(metrics.get(key)):>11}" for key, _ in HEADLINE)
            lines.append(f"  {name:{width}}{cells}")
    ratios = list((result.get("ratios") or {}).items())
    if ratios:
        lines.append("")
    for i in range(0, len(ratios), 4):
        lines.append("  " + "   ".join(f"{_ratio_name(k)} {v:.2f}x" for k, v in ratios[i : i + 4]))
    if result.get("mlflow_run"):
        lines += ["", f"MLflow run: {result['mlflow_run']}"]
    return "\n".join(lines)


def _ratio_name(key: str) -> str:
    for raw, label in HEADLINE:
        key = key.replace(raw, label)
    return key.replace("_", " ")


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    return f"{float(value):.3f}"
