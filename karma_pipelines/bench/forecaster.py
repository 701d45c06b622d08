"""Bench sections of the rollback forecaster: the default simulated world end to end (stage times, the
model beside baselines and oracle, the ablation of feature groups), a backtest on a generated Git
history, and training on 100,000 deploys."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from karma_pipelines.bench.common import ablation, peak_rss_mib, quality, rounded, timed, with_changes
from karma_pipelines.records import DEFAULT_HORIZON

FEATURES_FILE = "features.pkl"  # the default world's features, kept for `bench_training_100k`


def bench_simulated(tmp: Path) -> dict:
    from karma_pipelines.features import build_rollback_features
    from karma_pipelines.pipeline.forecaster import evaluate_forecaster
    from karma_pipelines.pipeline.tables import validated_tables
    from karma_pipelines.simulator import SimulationConfig, simulate_world
    from karma_pipelines.sources.open import open_source
    from karma_pipelines.training.spec import load_spec

    r: dict = {}
    root = tmp / "world"
    with timed(r, "simulate (default world)") as o:
        summary = simulate_world(root, SimulationConfig())
        o["rows"] = summary["events"]
    r["world"] = {k: summary[k] for k in ("components", "deploys", "rollbacks", "rollback_rate", "malformed")}
    source = open_source("events", root)
    world = source.describe()
    with timed(r, "read_event_log") as o:
        raw = source.raw_tables(source.read_batches(list(source.batch_keys())), DEFAULT_HORIZON)
        o["rows"] = len(raw.events)
    # The one path, as the assets and the CLI take it: events suite, deploy tables, their suites.
    with timed(r, "validated_tables (GX suites + deploy tables)", len(raw.events)) as o:
        tables = validated_tables(world, raw, DEFAULT_HORIZON)
        o["rows"] = len(tables.deploy_records)
    r["quarantined_events"] = int((tables.quarantined["table"] == "karma_events").sum())
    r["quarantined_rows"] = len(tables.quarantined)
    deploys, snaps = tables.deploy_records, tables.config_snapshots
    with timed(r, "build_rollback_features", len(deploys)):
        features = build_rollback_features(deploys, snaps)
    spec = load_spec("rollback_forecaster")
    with timed(r, "train_forecaster (1 thread, with candidates)", len(features)):
        evaluation = evaluate_forecaster(features, spec, DEFAULT_HORIZON, world)
    r["quality"] = quality(evaluation)
    r["ratios"] = rounded(evaluation.ratios())
    r["ablation (delta without group)"] = ablation(features, spec, DEFAULT_HORIZON)
    features.to_pickle(tmp / FEATURES_FILE)
    r["peak_rss_mib"] = peak_rss_mib()
    return r


def bench_git(tmp: Path) -> dict:
    from karma_pipelines.bench.git_extraction import bench_git_extraction
    from karma_pipelines.features import build_rollback_features
    from karma_pipelines.pipeline.backtest import run_backtest
    from karma_pipelines.pipeline.tables import load_tables
    from karma_pipelines.sources.git.synthetic_repo import make_repo
    from karma_pipelines.sources.open import open_source
    from karma_pipelines.training.spec import load_spec

    r: dict = {"extraction (10,000 commits)": bench_git_extraction(10_000)}
    repo = tmp / "repo"
    make_repo(repo, commits=10_000, components=200, seed=0)
    layout = "iac/{env}/{component_type}/{nickname}/config.json"
    with timed(r, "git_tables (extract + validate)") as o:
        source = open_source("git", repo, layout, None, state_dir=tmp / "git_state")
        tables = load_tables(source, pd.Timedelta(days=7))
        o["rows"] = len(tables.deploy_records)
    evaluation = run_backtest(tables)
    r["backtest quality"] = quality(evaluation)
    r["backtest ratios"] = rounded(evaluation.ratios())
    features = build_rollback_features(tables.deploy_records, tables.config_snapshots)
    r["ablation (delta without group)"] = ablation(features, load_spec("rollback_forecaster"), tables.horizon)
    return r


def bench_training_100k(tmp: Path) -> dict:
    """The default world's features (from `bench_simulated`) tiled to 100,000 deploys (times shifted),
    trained on one thread."""
    from karma_pipelines.training.rollback_forecaster import train_forecaster
    from karma_pipelines.training.spec import load_spec

    base = pd.read_pickle(tmp / FEATURES_FILE)
    span = base["deployed_at"].max() - base["deployed_at"].min() + pd.Timedelta(days=1)
    copies = -(-100_000 // len(base))
    tiles = [
        base.assign(deployed_at=base["deployed_at"] + span * i, deploy_id=base["deploy_id"] + f"#{i}")
        for i in range(copies)
    ]
    big = pd.concat(tiles, ignore_index=True).head(100_000)
    r: dict = {}
    spec = load_spec("rollback_forecaster")
    with timed(r, "train_forecaster on 100,000 deploys (all candidates)", len(big)):
        train_forecaster(big, spec, DEFAULT_HORIZON)
    with timed(r, "train_forecaster on 100,000 deploys (spec params only)", len(big)):
        train_forecaster(big, with_changes(spec, candidates=[]), DEFAULT_HORIZON)
    return r
