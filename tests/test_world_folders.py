"""A simulated world is written only where no other data lives: `simulate --out` and
`run --source simulator:DIR` refuse a folder that holds a world not written by the simulator."""

from __future__ import annotations

import json

import pytest

from karma_pipelines.apps.cli import main
from karma_pipelines.simulator import SimulationConfig, simulate_world

TINY = ["--components", "3", "--days", "2"]


def foreign_world(root):
    """A real-looking world folder (events, configs, ground truth) that the simulator did not write."""
    files = {
        "events/2026-05-01.jsonl": '{"ts": "2026-05-01T00:00:00Z"}\n',
        "configs/iac/dev/vpc/core/config.json": "{}",
        "ground_truth/deploys.csv": "deploy_id\n",
        "world.json": json.dumps({"start": "2026-05-01T00:00:00Z"}),
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return files


def contents(root) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("without_world_json", [False, True])
def test_simulate_refuses_a_folder_that_is_not_a_simulated_world(tmp_path, capsys, without_world_json):
    foreign_world(tmp_path)
    if without_world_json:
        (tmp_path / "world.json").unlink()
    before = contents(tmp_path)
    assert main(["simulate", "--out", str(tmp_path), *TINY]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path) in err and "not a world written by the simulator" in err
    assert contents(tmp_path) == before  # nothing deleted, nothing added


def test_run_refuses_a_simulator_folder_that_is_not_a_simulated_world(tmp_path, capsys):
    world = tmp_path / "world"
    world.mkdir()
    foreign_world(world)
    (world / "world.json").unlink()  # no world.json: the simulator source would write one there
    before = contents(world)
    home = tmp_path / "home"
    assert main(["run", "--source", f"simulator:{world}", "--home", str(home)]) == 2
    err = capsys.readouterr().err
    assert "not a world written by the simulator" in err.splitlines()[0]
    assert contents(world) == before


def test_a_simulated_world_is_replaced_and_a_new_or_empty_folder_is_written(tmp_path):
    config = SimulationConfig(components=3, days=2)
    first = simulate_world(tmp_path / "new", config)
    again = simulate_world(tmp_path / "new", SimulationConfig(components=3, days=2, seed=8))
    assert first["seed"] == 7 and again["seed"] == 8
    assert json.loads((tmp_path / "new" / "world.json").read_text())["seed"] == 8
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("mine")
    simulate_world(tmp_path / "empty", config)
    assert (tmp_path / "empty" / "notes.txt").read_text() == "mine"
    assert (tmp_path / "empty" / "events").is_dir()
