"""Bench section `whatif`: the what-if engine judged on a simulated world with planted twins (its own
truth): the blast radius of every replayed change request against the logged `affected_components`,
the what-if risk of the test period's deploys against their outcome beside the forecaster's own scores,
the time of one what-if call, and the rewrites found against the planted ones; and the rewrites
suggested on the default world, where nothing is planted."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from karma_pipelines.bench.common import peak_rss_mib, timed
from karma_pipelines.records import DEFAULT_HORIZON

TWINS = 4
REPLAYED = 2000  # of ~17,000 change requests in the default world


def _tables(root: Path, **config):
    from karma_pipelines.pipeline.tables import load_tables
    from karma_pipelines.simulator import SimulationConfig, simulate_world
    from karma_pipelines.sources.open import open_source

    simulate_world(root, SimulationConfig(**config))
    return load_tables(open_source("events", root), DEFAULT_HORIZON)


def found_planted(found, truth: pd.DataFrame) -> dict:
    got = {(r.consumer, r.source, r.target) for r in found}
    planted = set(truth.itertuples(index=False, name=None))
    return {"planted": len(planted), "found": len(planted & got), "suggested": len(got),
            "suggested_not_planted": len(got - planted)}  # fmt: skip


def bench_whatif(tmp: Path) -> dict:
    from karma_pipelines.pipeline.backtest import run_backtest
    from karma_pipelines.whatif.change import ProposedChange
    from karma_pipelines.whatif.impact import WhatIfEngine
    from karma_pipelines.whatif.replay import replay_invalidations, replay_risk
    from karma_pipelines.whatif.rewrites import suggest_rewrites
    from karma_pipelines.whatif.risk import Forecaster
    from karma_pipelines.whatif.suggestions import FieldSuggester

    r: dict = {}
    root = tmp / "twins_world"
    with timed(r, f"simulate and read (default world + {TWINS} twins)"):
        tables = _tables(root, twins=TWINS)
    with timed(r, "train the forecaster (backtest split)"):
        evaluation = run_backtest(tables)
    forecaster = Forecaster(evaluation.run.booster, "bench", float(evaluation.run.metrics["base_rate"]))
    engine = WhatIfEngine.from_tables(tables, forecaster, FieldSuggester.trained(tables.config_snapshots))
    with timed(r, f"replay {REPLAYED} change requests, evenly spread (blast radius only)"):
        r["invalidations"] = replay_invalidations(engine.graph_only(), tables.clean_events, limit=REPLAYED)
    r["invalidations"].pop("examples_wrong")
    with timed(r, "replay 100 test-period deploys (with risk)"):
        r["risk_vs_outcome"] = replay_risk(engine, tables.clean_events, limit=100)
    r["forecaster_test_roc_auc (its own holdout)"] = round(float(evaluation.run.metrics["roc_auc"]), 4)
    producer = tables.config_snapshots.groupby("component").size().idxmax()
    calls, cpu = [], []
    for i in range(5):
        start, start_cpu = time.perf_counter(), time.process_time()
        engine.analyse(ProposedChange(producer, None, patch={"tags.Owner": f"team-{i}"}))
        calls.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    r["one whatif call (graph + risk + suggestions), seconds"] = {
        "median": round(sorted(calls)[2], 3), "max": round(max(calls), 3),
        "cpu_median": round(sorted(cpu)[2], 3), "component": producer,
    }  # fmt: skip
    with timed(r, "suggest_rewrites (twins world)"):
        found = suggest_rewrites(engine)
    truth = pd.read_csv(root / "ground_truth" / "planted_rewrites.csv")
    r["rewrites (twins world)"] = found_planted(found, truth)
    with timed(r, "simulate, read and suggest_rewrites (default world, nothing planted)"):
        default = _tables(tmp / "default_world")
        plain = suggest_rewrites(WhatIfEngine.from_tables(default))
    r["rewrites (default world)"] = {"suggested": len(plain)}
    r["peak_rss_mib"] = peak_rss_mib()
    return r
