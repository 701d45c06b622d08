"""A deterministic simulator of a Karma world: components, their dependency graph and a deploy
history with planted rollback causes, written as Karma's event log plus ground truth.

Library code only (no Dagster, no MLflow). The layout written is assets/schemas/event_log.md.
One catalogue of component types (`component_types`, queried through `catalog`) drives the world,
and the same world can be written three ways: the event log and configs (`writer`), a Git history
of configs (`git_writer.write_git_history`), and the Terraform that reads them (`terraform`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from karma_pipelines.simulator import graph_plants
from karma_pipelines.simulator.clock import Clock
from karma_pipelines.simulator.events import EventLog
from karma_pipelines.simulator.history import DRIFTS_PER_DAY, History
from karma_pipelines.simulator.memo import pinned
from karma_pipelines.simulator.people import build_users
from karma_pipelines.simulator.promotion_habits import PromotionHabits
from karma_pipelines.simulator.spool import Spool
from karma_pipelines.simulator.twins import plant_twins, write_planted
from karma_pipelines.simulator.world import build_world
from karma_pipelines.simulator.writer import check_replaceable, write_world

__all__ = ["SimulationConfig", "simulate_world"]


@dataclass(frozen=True)
class SimulationConfig:
    seed: int = 7
    components: int = 240
    days: int = 180
    start: str = "2026-01-05"  # fixed start date (UTC) so that output is byte-identical for a seed
    promotion_habits: bool = False  # engineers' staging -> prod habits, with planted health effects
    twins: int = 0  # unhealthy producers planted with a healthy twin (`simulator.twins`)
    graph_anomalies: int = 0  # anomalous connections / structural changes to plant (graph_plants)


def simulate_world(out: Path, config: SimulationConfig) -> dict[str, Any]:
    """Simulate a world and write it to `out`; returns a JSON-able summary of what was written.

    The same config gives byte-identical files: one `numpy.random.default_rng(seed)` drives all.
    """
    out = Path(out)
    check_replaceable(out)  # before any work
    if config.components < 3:
        raise ValueError("a world needs at least 3 components")
    if config.days < 1:
        raise ValueError("a world needs at least 1 day")
    rng = np.random.default_rng(config.seed)
    clock = Clock(config.start, config.days)
    world = build_world(rng, config.components, config.days)
    if config.twins:
        plant_twins(np.random.default_rng([config.seed, 13]), world, config.twins)
    world.users = build_users(rng, min(25, max(6, config.components // 9)), world.projects, config.days)
    with Spool(out, clock) as spool, pinned():  # events and deploys go to disk while the history runs
        log = EventLog(clock, config.seed, sink=spool.events)
        history = History(rng, world, clock, log, truth=spool.deploys)
        if config.promotion_habits:
            history.habits = PromotionHabits(history, config.seed, DRIFTS_PER_DAY)
        if config.graph_anomalies:
            graph_plants.schedule(history, config.graph_anomalies, config.seed)
        history.run()
        summary = write_world(rng, Path(out), history, spool, clock, config.seed)
    if history.habits is not None:
        summary["prod_promotions"] = history.habits.write_truth(Path(out), clock)
    if config.twins:
        summary["planted_rewrites"] = write_planted(Path(out), world, history.state.downstream)
    if config.graph_anomalies:
        summary["graph_anomalies_planted"] = graph_plants.write_truth(Path(out), history)
    return summary
