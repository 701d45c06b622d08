"""`karma-pipelines backtest`: train the rollback forecaster on the past of a source (an event-log world or
a Git history), evaluate it on the future, log the run to MLflow."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from karma_pipelines.apps.arguments import HOME, json_text, output_file
from karma_pipelines.apps.reading import coverage_report, read_tables

BACKTEST_EXPERIMENT = "karma-backtest"


def _backtest(args: argparse.Namespace) -> int:
    from karma_pipelines.apps.progress import Progress
    from karma_pipelines.records.labels import parse_horizon
    from karma_pipelines.sources.open import open_source

    progress = Progress()
    horizon = parse_horizon(args.horizon)
    if args.repo:
        source = open_source("git", args.repo, args.layout, args.ref)
    else:
        source = open_source("events", args.events)

    def load_libraries() -> None:  # while the source is read: the modules, GX and the MLflow store
        import importlib

        for module in ("karma_pipelines.pipeline.backtest", "karma_pipelines.tracking.forecaster"):
            importlib.import_module(module)
        from karma_pipelines.tracking.store import MlflowTarget
        from karma_pipelines.validation.gx_runner import import_gx

        import_gx()
        MlflowTarget.local(Path(args.home), experiment=BACKTEST_EXPERIMENT).activate()

    # What follows reads the deploy tables only: the events' memory is given back as soon as they are built.
    tables = read_tables(source, horizon, progress, meanwhile=load_libraries, keep_events=False)
    from karma_pipelines.contracts.schema import CONFIG_SNAPSHOTS
    from karma_pipelines.parallel import forks_allowed
    from karma_pipelines.pipeline.backtest import (
        backtest_features,
        format_report,
        predictions_table,
        report,
        run_backtest,
        training_rows,
    )
    from karma_pipelines.tracking.forecaster import track_forecaster
    from karma_pipelines.tracking.store import MlflowTarget

    coverage = coverage_report(source, "backtest")
    with forks_allowed():  # this process's other threads are its progress lines
        features = backtest_features(tables, progress)
        # The snapshots are read by the features only: let go before training (a gigabyte at 1M deploys).
        tables = replace(tables, config_snapshots=CONFIG_SNAPSHOTS.empty())
        evaluation = run_backtest(tables, args.split_date, progress=progress, features=features)
        del features
    result = report(tables, evaluation)
    if coverage is not None:
        result["coverage"] = coverage
    if args.predictions:
        predictions_table(evaluation, tables.deploy_records).to_csv(args.predictions, index=False)
        progress.note(f"wrote {result['test_deploys']:,} predictions to {args.predictions}")
    if args.training_rows:
        rows = training_rows(evaluation)
        rows.to_parquet(args.training_rows, index=False)
        progress.note(f"wrote {len(rows):,} training rows to {args.training_rows}")
    target = MlflowTarget.local(Path(args.home), experiment=BACKTEST_EXPERIMENT)
    tags = {"kind": "backtest", "source": str(args.repo or args.events)}
    with progress.stage("logging the run to MLflow"):
        tracked = track_forecaster(target, evaluation, tags, str(args.repo or args.events), register=False)
    result["mlflow_run"] = tracked.registered.run_url
    progress.note(f"logged to MLflow: {result['mlflow_run']}")
    print(json_text(result) if args.json else format_report(result))
    return 0


def register(sub, layout: dict) -> None:
    """Register `backtest` on the `karma-pipelines` subparsers (`layout`: the `--layout` argument)."""
    bt = sub.add_parser("backtest", help="train on the past of a source and evaluate on its future")
    src = bt.add_mutually_exclusive_group(required=True)
    src.add_argument("--repo", help="a Git repository of component configs")
    src.add_argument("--events", help="a world folder written by `karma-pipelines simulate`")
    bt.add_argument("--layout", **layout)
    bt.add_argument("--ref", default=None, help="branch, tag or commit (default HEAD)")
    bt.add_argument("--split-date", default=None, help="YYYY-MM-DD (default: last 20%% of time is test)")
    bt.add_argument("--horizon", default="7d", help="label horizon, e.g. 7d, 36h (default 7d)")
    bt.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    bt.add_argument("--predictions", type=output_file, help="write test-period predictions to this CSV")
    bt.add_argument(
        "--training-rows", type=output_file,
        help="write the rows the model was trained on (features, label, time) to this Parquet file",
    )  # fmt: skip
    bt.add_argument("--home", **HOME, help="MLflow store folder (default .karma)")
    bt.set_defaults(func=_backtest)
