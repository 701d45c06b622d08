"""`make bench`: speed and memory figures of each stage on the default simulated world.

Prints a table of wall times (seconds), throughput and peak memory. Figures belong here, not in tests.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path


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
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def bench_pipeline(world_dir: Path) -> dict:
    from karma_pipelines.features import build_rollback_features
    from karma_pipelines.records import deploy_tables_from_events
    from karma_pipelines.schema import KARMA_EVENTS
    from karma_pipelines.simulator import SimulationConfig, simulate_world
    from karma_pipelines.sources.event_log import read_event_log
    from karma_pipelines.training.oracle import load_truth, oracle_metrics
    from karma_pipelines.training.rollback_forecaster import train_forecaster
    from karma_pipelines.training.spec import load_spec
    from karma_pipelines.validation import validate_table
    from karma_pipelines.world import open_world

    r: dict = {}
    with timed(r, "simulate (default world)") as o:
        summary = simulate_world(world_dir, SimulationConfig())
        o["rows"] = summary["events"]
    world = open_world(world_dir)
    with timed(r, "read_event_log") as o:
        events = read_event_log(world.events_dir)
        o["rows"] = len(events)
    with timed(r, "validate karma_events (GX)", len(events)):
        clean = validate_table(events, KARMA_EVENTS, world.suite_parameters()).clean
    with timed(r, "deploy_tables_from_events") as o:
        deploys, snaps = deploy_tables_from_events(clean, as_of=world.end)
        o["rows"] = len(deploys)
    with timed(r, "build_rollback_features", len(deploys)):
        features = build_rollback_features(deploys, snaps)
    spec = load_spec("rollback_forecaster")
    with timed(r, "train_forecaster (1 thread)", len(features)):
        run = train_forecaster(features, spec)
    oracle = oracle_metrics(run.predictions, load_truth(world.root))
    r["quality"] = {
        "model_roc_auc": round(run.metrics["roc_auc"], 4),
        "oracle_roc_auc": round(oracle["roc_auc"], 4),
        "model_capture_at_10": round(run.metrics["capture_at_10"], 4),
        "oracle_capture_at_10": round(oracle["capture_at_10"], 4),
        "test_deploys": run.metrics["n"],
        "best_iteration": run.best_iteration,
    }
    r["peak_rss_mib"] = round(peak_rss_mib(), 1)
    return r


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        results = {"pipeline": bench_pipeline(Path(tmp) / "world")}
    for section, figures in results.items():
        print(f"== {section}")
        for name, value in figures.items():
            print(f"  {name:32s} {json.dumps(value)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
