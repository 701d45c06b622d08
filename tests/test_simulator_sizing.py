"""A world sized by deploys: `config_for_deploys` picks the components for about n deploys."""

from __future__ import annotations

from pathlib import Path

import pytest

from karma_pipelines.simulator import SimulationConfig, simulate_world
from karma_pipelines.simulator.sizing import components_for_deploys, config_for_deploys


def test_components_grow_with_deploys_and_shrink_with_days() -> None:
    assert components_for_deploys(100_000) == pytest.approx(5 * components_for_deploys(20_000), abs=2)
    half = components_for_deploys(20_000, days=360)
    assert 2 * half == pytest.approx(components_for_deploys(20_000), abs=1)
    assert components_for_deploys(1) == 3  # a world's minimum
    config = config_for_deploys(50_000, seed=3, twins=2)
    assert (config.seed, config.twins, config.days) == (3, 2, SimulationConfig.days)
    with pytest.raises(ValueError, match="deploys"):
        components_for_deploys(0)


def test_a_world_sized_by_deploys_has_about_that_many(tmp_path: Path) -> None:
    summary = simulate_world(tmp_path, config_for_deploys(3_000, seed=5))
    assert 0.75 * 3_000 <= summary["deploys"] <= 1.25 * 3_000
