"""`make bench`: speed, memory and quality figures of every stage. Figures belong here, not in tests.

Sections: the default simulated world end to end (with the oracle and the ablation of feature groups),
Git extraction against `git log --numstat`, a backtest on a generated Git history, training on 100,000
deploys, scoring one commit (CLI wall time and warm), and the config-field suggester.
`python -m karma_pipelines.bench [section ...]` runs some of them.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import pandas as pd


@contextmanager
def timed(results: dict, name: str, rows: int | None = None):
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
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def _quality(run, others: dict) -> dict:
    keys = ("roc_auc", "pr_auc", "capture_at_10")
    out = {f"model_{k}": round(run.metrics[k], 4) for k in keys}
    for name, metrics in others.items():
        out.update({f"{name}_{k}": round(metrics[k], 4) for k in keys})
    out["test_deploys"] = int(run.metrics["n"])
    out["base_rate"] = round(run.metrics["base_rate"], 4)
    return out


def ablation(features: pd.DataFrame, spec) -> dict:
    """Test metrics without each feature group (same split): what each group contributes."""
    from karma_pipelines.training.rollback_forecaster import train_forecaster

    full = train_forecaster(features, spec).metrics
    out = {"all": {k: round(full[k], 4) for k in ("roc_auc", "pr_auc", "capture_at_10")}}
    for group in spec.feature_groups:
        m = train_forecaster(features, spec.without_groups(group)).metrics
        out[f"without {group}"] = {
            k: round(m[k] - full[k], 4) for k in ("roc_auc", "pr_auc", "capture_at_10")
        }
    return out


def bench_simulated(tmp: Path) -> dict:
    from karma_pipelines.backtest import comparisons
    from karma_pipelines.features import build_rollback_features
    from karma_pipelines.records import deploy_tables_from_events
    from karma_pipelines.schema import KARMA_EVENTS
    from karma_pipelines.simulator import SimulationConfig, simulate_world
    from karma_pipelines.source_tables import SourceTables
    from karma_pipelines.sources.event_log import read_event_log
    from karma_pipelines.training.baselines import ratios
    from karma_pipelines.training.rollback_forecaster import train_forecaster
    from karma_pipelines.training.spec import load_spec
    from karma_pipelines.validation import validate_table
    from karma_pipelines.world import open_world

    r: dict = {}
    root = tmp / "world"
    with timed(r, "simulate (default world)") as o:
        summary = simulate_world(root, SimulationConfig())
        o["rows"] = summary["events"]
    r["world"] = {k: summary[k] for k in ("components", "deploys", "rollbacks", "rollback_rate", "malformed")}
    world = open_world(root)
    with timed(r, "read_event_log") as o:
        events = read_event_log(world.events_dir)
        o["rows"] = len(events)
    with timed(r, "validate karma_events (GX)", len(events)):
        checked = validate_table(events, KARMA_EVENTS, world.suite_parameters())
    r["quarantined_events"] = len(checked.quarantined)
    with timed(r, "deploy_tables_from_events") as o:
        deploys, snaps = deploy_tables_from_events(checked.clean, as_of=world.end)
        o["rows"] = len(deploys)
    with timed(r, "build_rollback_features", len(deploys)):
        features = build_rollback_features(deploys, snaps)
    spec = load_spec("rollback_forecaster")
    with timed(r, "train_forecaster (1 thread, with candidates)", len(features)):
        run = train_forecaster(features, spec)
    others = comparisons(SourceTables(deploys, snaps, checked.quarantined, 0, world_root=root), run)
    r["quality"] = _quality(run, others)
    r["ratios"] = {
        k: round(v, 3)
        for k, v in ratios(run.metrics, {k: v for k, v in others.items() if k != "oracle"}).items()
    }
    r["ratios"]["roc_auc_vs_oracle"] = round(run.metrics["roc_auc"] / others["oracle"]["roc_auc"], 3)
    r["ratios"]["capture_at_10_vs_oracle"] = round(
        run.metrics["capture_at_10"] / others["oracle"]["capture_at_10"], 3
    )
    r["ablation (delta without group)"] = ablation(features, spec)
    features.to_pickle(tmp / "features.pkl")
    r["peak_rss_mib"] = peak_rss_mib()
    return r


def bench_git(tmp: Path) -> dict:
    from karma_pipelines.backtest import comparisons, run_backtest
    from karma_pipelines.features import build_rollback_features
    from karma_pipelines.source_tables import git_tables
    from karma_pipelines.sources.git.bench import bench_git_extraction
    from karma_pipelines.sources.git.synthetic_repo import make_repo
    from karma_pipelines.training.baselines import ratios
    from karma_pipelines.training.spec import load_spec

    r: dict = {"extraction (10,000 commits)": bench_git_extraction(10_000)}
    repo = tmp / "repo"
    make_repo(repo, commits=10_000, components=200, seed=0)
    layout = "iac/{env}/{component_type}/{nickname}/config.json"
    with timed(r, "git_tables (extract + validate)") as o:
        tables = git_tables(repo, layout, None, pd.Timedelta(days=7), state_dir=tmp / "git_state")
        o["rows"] = len(tables.deploy_records)
    run = run_backtest(tables)
    others = comparisons(tables, run)
    r["backtest quality"] = _quality(run, others)
    r["backtest ratios"] = {k: round(v, 3) for k, v in ratios(run.metrics, others).items()}
    features = build_rollback_features(tables.deploy_records, tables.config_snapshots)
    r["ablation (delta without group)"] = ablation(features, load_spec("rollback_forecaster"))
    return r


def bench_training_100k(tmp: Path) -> dict:
    """The default world's features tiled to 100,000 deploys (times shifted), trained on one thread."""
    from karma_pipelines.training.rollback_forecaster import train_forecaster
    from karma_pipelines.training.spec import load_spec

    base = pd.read_pickle(tmp / "features.pkl")
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
        train_forecaster(big, spec)
    with timed(r, "train_forecaster on 100,000 deploys (spec params only)", len(big)):
        train_forecaster(big, spec.__class__(**{**spec.__dict__, "candidates": []}))
    return r


def bench_scoring(tmp: Path) -> dict:
    """Scoring one new commit: the CLI's wall time (a fresh process) and a warm scorer's time."""
    from karma_pipelines.defs.run import parse_source, run_pipeline
    from karma_pipelines.scoring import load_scorer
    from karma_pipelines.sources.git.synthetic_repo import make_repo

    repo, home = tmp / "score-repo", tmp / "score-home"
    make_repo(repo, commits=3000, components=80, seed=1)
    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    (home / "dagster").mkdir(parents=True, exist_ok=True)
    run_pipeline(parse_source(f"git:{repo}", home), home)
    (repo / "iac/prod/vpc/bench-prod").mkdir(parents=True, exist_ok=True)
    (repo / "iac/prod/vpc/bench-prod/config.json").write_text('{"cidr": "10.3.0.0/16", "az_count": 2}\n')
    git = ["git", "-C", str(repo), "-c", "user.name=bench", "-c", "user.email=b@x"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "bench vpc"], check=True)
    cli = [
        sys.executable,
        "-m",
        "karma_pipelines.cli",
        "score",
        "--repo",
        str(repo),
        "--home",
        str(home),
        "--json",
    ]
    walls = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run(cli, check=True, capture_output=True)
        walls.append(time.perf_counter() - start)
    scorer = load_scorer(repo, home)
    scorer.score("HEAD")
    warm = []
    for _ in range(5):
        start = time.perf_counter()
        scorer.score("HEAD")
        warm.append(time.perf_counter() - start)
    return {
        "history": "3,000 commits, 80 components",
        "cli_wall_seconds_best_of_3": round(min(walls), 3),
        "warm_score_ms_best_of_5": round(1000 * min(warm), 1),
    }


def bench_suggester(tmp: Path) -> dict:
    try:
        from karma_pipelines.suggester.bench import bench_suggester as run
    except ImportError as exc:  # pragma: no cover - the suggester is optional in a partial checkout
        return {"skipped": str(exc)}
    return run()


def bench_incremental(tmp: Path) -> dict:
    """A new day of events noticed by the sensor (one partition, then everything downstream) against a
    full materialization of the default world, on one Dagster instance."""
    import shutil

    import dagster as dg

    from karma_pipelines.definitions import build_definitions
    from karma_pipelines.defs.automation import karma_event_files_sensor
    from karma_pipelines.defs.resources import KarmaSourceResource, MlflowResource
    from karma_pipelines.defs.run import execute_all
    from karma_pipelines.simulator import SimulationConfig, simulate_world

    world = tmp / "incremental-world"
    simulate_world(world, SimulationConfig())
    last = sorted((world / "events").glob("*.jsonl"))[-1]
    shutil.move(last, tmp / last.name)
    source = KarmaSourceResource(kind="simulator", path=str(world))
    defs = build_definitions(source, MlflowResource(home=str(tmp / "inc-home")), storage_dir=str(tmp / "io"))
    r: dict = {}
    with dg.instance_for_test() as instance:
        with timed(r, "full materialization (179 day files)"):
            execute_all(defs, instance, source)
        cursor = karma_event_files_sensor(
            dg.build_sensor_context(instance=instance, resources={"karma_source": source})
        ).cursor
        shutil.move(tmp / last.name, last)
        with timed(r, "sensor-triggered update (1 new day file)"):
            ctx = dg.build_sensor_context(
                instance=instance, cursor=cursor, resources={"karma_source": source}
            )
            result = karma_event_files_sensor(ctx)
            instance.add_dynamic_partitions("karma_event_days", [last.stem])
            run = defs.resolve_job_def("karma_ingest_job").execute_in_process(
                instance=instance, tags=result.run_requests[0].tags, raise_on_error=False
            )
        r["incremental run succeeded"] = run.success
        r["incremental day files read"] = len(run.output_for_node("karma_event_files"))
        with timed(r, "full re-materialization (all 180 day files)"):
            execute_all(defs, instance, source)
    return r


SECTIONS: dict[str, Callable[[Path], dict]] = {
    "simulated": bench_simulated,
    "git": bench_git,
    "training_100k": bench_training_100k,
    "scoring": bench_scoring,
    "suggester": bench_suggester,
    "incremental": bench_incremental,
}


def main(argv: list[str] | None = None) -> int:
    wanted = (argv if argv is not None else sys.argv[1:]) or list(SECTIONS)
    if "training_100k" in wanted and "simulated" not in wanted:
        wanted.insert(0, "simulated")  # it reuses the default world's features
    with tempfile.TemporaryDirectory() as tmp:
        for section in wanted:
            figures = SECTIONS[section](Path(tmp))
            print(f"== {section}", flush=True)
            for name, value in figures.items():
                print(f"  {name:48s} {json.dumps(value, default=str)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
