"""What a command lets go of as it runs: Arrow buffers come from the system's allocator (memory given
back is the system's again), and a backtest's config snapshots go once its features are made, the
evaluation the same as with them kept."""

from __future__ import annotations

import contextlib
import io
from dataclasses import replace

import pandas as pd
import pyarrow as pa
import pytest

from karma_pipelines.apps.cli import main
from karma_pipelines.contracts.schema import CONFIG_SNAPSHOTS
from karma_pipelines.pipeline.backtest import backtest_features, report, run_backtest
from karma_pipelines.pipeline.tables import load_tables
from karma_pipelines.records import DEFAULT_HORIZON
from karma_pipelines.simulator import SimulationConfig, simulate_world
from karma_pipelines.sources.event_world import EventLogSource
from tests.conftest import SMALL_WORLD


def test_every_command_allocates_arrow_buffers_from_the_system():
    before = pa.default_memory_pool()
    pa.set_memory_pool(pa.mimalloc_memory_pool())
    try:
        with contextlib.redirect_stdout(io.StringIO()), pytest.raises(SystemExit):
            main(["--version"])
        assert pa.default_memory_pool().backend_name == "system"
    finally:
        pa.set_memory_pool(before)


def test_a_backtest_without_its_snapshots_after_the_features_is_the_same(tmp_path):
    world = tmp_path / "world"
    simulate_world(world, SimulationConfig(**SMALL_WORLD))
    tables = load_tables(EventLogSource(world), DEFAULT_HORIZON, keep_events=False)
    kept = run_backtest(tables)
    features = backtest_features(tables)
    released = replace(tables, config_snapshots=CONFIG_SNAPSHOTS.empty())
    let_go = run_backtest(released, features=features)
    assert report(released, let_go) == report(tables, kept)
    pd.testing.assert_frame_equal(let_go.run.predictions, kept.run.predictions)
    assert len(tables.config_snapshots) > 0 and let_go.run.metrics["n"] > 0
