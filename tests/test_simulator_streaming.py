"""The simulator streams a world to disk day by day and computes each deploy's diff lazily; what it
writes is what the whole-world computation gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from karma_pipelines.contracts.config_diff import diff_configs
from karma_pipelines.simulator import SimulationConfig, simulate_world
from karma_pipelines.simulator.clock import DAY, Clock
from karma_pipelines.simulator.events import EventLog
from karma_pipelines.simulator.memo import diff_of
from karma_pipelines.simulator.world import Component


def test_lazy_diffs_equal_the_full_diff_of_every_consecutive_config_pair(tmp_path: Path) -> None:
    simulate_world(tmp_path, SimulationConfig(seed=4, components=24, days=20))
    configs: dict[str, list[dict]] = {}
    for path in sorted((tmp_path / "events").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            config = event.get("attrs", {}).get("config") if isinstance(event.get("attrs"), dict) else None
            if event.get("event_type") in ("deploy.apply", "deploy.rollback") and isinstance(config, dict):
                configs.setdefault(event["entity_id"], []).append(config)
    pairs = [(a, b) for seq in configs.values() for a, b in zip([None, *seq], seq, strict=False)]
    assert len(pairs) > 50 and any(a is not None and diff_configs(a, b).lines_added > 3 for a, b in pairs)
    for before, after in pairs:
        assert diff_of(before, after).resolved() == diff_configs(before, after)


def test_a_day_once_written_takes_no_more_events() -> None:
    written: list[tuple[int, list[str]]] = []
    log = EventLog(
        Clock("2026-01-05", 3), 7, sink=lambda day, es: written.append((day, [e.body["ts"] for e in es]))
    )
    comp = Component("vpc/a-dev", "vpc", "a-dev", "a", "dev", "p", "p-team", (), 0, 1.0)
    log.emit(DAY + 50, "drift.detected", comp, "c", {}, "api")
    log.emit(DAY + 10, "drift.detected", comp, "c", {}, "api")  # later in emission, earlier in time
    log.emit(5, "drift.detected", comp, "c", {}, "api")
    log.flush_before(2 * DAY)
    assert written == [(0, ["2026-01-05T00:00:05Z"]), (1, ["2026-01-06T00:00:10Z", "2026-01-06T00:00:50Z"])]
    with pytest.raises(AssertionError, match="already written"):
        log.emit(DAY + 60, "drift.detected", comp, "c", {}, "api")


def test_the_spool_is_gone_once_the_world_is_written(tmp_path: Path) -> None:
    summary = simulate_world(tmp_path, SimulationConfig(seed=2, components=10, days=5))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["configs", "events", "ground_truth", "world.json"]
    rows = (tmp_path / "ground_truth" / "deploys.csv").read_text().splitlines()
    assert len(rows) == summary["deploys"] + 1
