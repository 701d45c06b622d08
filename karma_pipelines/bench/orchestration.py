"""Bench sections of the pipeline as it is run: scoring one new commit (the CLI's wall time and a warm
scorer's) and a sensor-triggered incremental run against a full materialization."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from karma_pipelines.bench.common import timed


def bench_scoring(tmp: Path) -> dict:
    """Scoring one new commit: the CLI's wall time (a fresh process) and a warm scorer's time."""
    from karma_pipelines.defs.run import parse_source, run_pipeline
    from karma_pipelines.pipeline.scoring import load_scorer
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
        "karma_pipelines.apps.cli",
        "score",
        "--repo",
        str(repo),
        "--home",
        str(home),
    ]
    walls = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run([*cli, "--json"], check=True, capture_output=True)
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


def requested_job(defs, request):
    """The ingest job as the sensor's run request selects it (its assets and checks)."""
    job = defs.resolve_job_def(request.job_name or "karma_ingest_job")
    if request.asset_selection is None:
        return job
    checks = set(request.asset_check_keys or [])
    return job.get_subset(asset_selection=set(request.asset_selection), asset_check_selection=checks)


def step_seconds(instance, run_id: str) -> dict[str, float]:
    """Each step's wall seconds in a run, longest first (from the run's start and success events)."""
    import dagster as dg

    kinds = {
        dg.DagsterEventType.STEP_START,
        dg.DagsterEventType.STEP_SUCCESS,
        dg.DagsterEventType.STEP_FAILURE,
    }
    start: dict[str, float] = {}
    took: dict[str, float] = {}
    for entry in instance.all_logs(run_id, of_type=kinds):
        if entry.dagster_event.event_type == dg.DagsterEventType.STEP_START:
            start[entry.step_key] = entry.timestamp
        elif entry.step_key in start:
            took[entry.step_key] = round(entry.timestamp - start[entry.step_key], 2)
    return dict(sorted(took.items(), key=lambda kv: -kv[1]))


def bench_incremental(tmp: Path) -> dict:
    """A new day of events noticed by the sensor (one partition, then everything downstream) against a
    full materialization of the default world, on one Dagster instance."""
    import shutil

    import dagster as dg

    from karma_pipelines.definitions import build_definitions
    from karma_pipelines.defs.automation import karma_source_sensor
    from karma_pipelines.defs.extract import karma_source_batches
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
        cursor = karma_source_sensor(
            dg.build_sensor_context(instance=instance, resources={"karma_source": source})
        ).cursor
        shutil.move(tmp / last.name, last)
        cpu = os.times()
        with timed(r, "sensor-triggered update (1 new day file)"):
            ctx = dg.build_sensor_context(
                instance=instance, cursor=cursor, resources={"karma_source": source}
            )
            result = karma_source_sensor(ctx)
            instance.add_dynamic_partitions(karma_source_batches.name, [last.stem])
            run = requested_job(defs, result.run_requests[0]).execute_in_process(
                instance=instance, tags=result.run_requests[0].tags, raise_on_error=False
            )
        after = os.times()
        r["sensor-triggered update cpu seconds"] = round(after.user + after.system - cpu.user - cpu.system, 2)
        r["load average before / after update"] = [round(x, 2) for x in os.getloadavg()]
        r["incremental run succeeded"] = run.success
        r["incremental day files read"] = len(run.output_for_node("source_batches"))
        r["incremental run steps (seconds)"] = step_seconds(instance, run.run_id)
        with timed(r, "full re-materialization (all 180 day files)"):
            execute_all(defs, instance, source)
    return r
