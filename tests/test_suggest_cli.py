"""`karma-pipelines suggest` on a plain folder of configs: JSON shape, one extra config file, errors."""

import json

import pytest

from karma_pipelines.cli import main
from karma_pipelines.simulator import SimulationConfig, simulate_world


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("sg") / "world"
    simulate_world(root, SimulationConfig(seed=5, components=90, days=60))
    return root


def test_suggest_json_for_one_component_and_for_all(world, capsys):
    configs = str(world / "configs")
    assert main(["suggest", "--configs", configs, "--json", "--top", "3"]) == 0
    everything = json.loads(capsys.readouterr().out)
    assert isinstance(everything, list) and len(everything) > 50
    first = everything[0]
    assert {"component", "missing", "unused"} <= set(first)
    for item in everything:
        for kind in ("missing", "unused"):
            assert len(item[kind]) <= 3
            assert all(set(s) == {"field", "score", "reason"} for s in item[kind])

    key = first["component"]
    assert main(["suggest", "--configs", configs, "--component", key, "--json"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert one["component"] == key


def test_suggest_flags_a_misspelt_field_in_a_config_file(world, tmp_path, capsys):
    source = sorted((world / "configs" / "iac" / "prod" / "vpc").glob("*/config.json"))[0]
    config = json.loads(source.read_text())
    config["az_cuont"] = config.pop("az_count", 2)  # a typo of a field every vpc sets
    path = tmp_path / "iac" / "prod" / "vpc" / source.parent.name / "config.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(config))
    assert main(["suggest", "--configs", str(world / "configs"), "--config", str(path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["component"] == f"vpc/{source.parent.name}"
    assert "az_cuont" in [s["field"] for s in result["unused"]]
    assert "az_count" in [s["field"] for s in result["missing"]]


def test_suggest_errors_are_clear(world, capsys):
    assert main(["suggest", "--configs", str(world / "configs"), "--component", "vpc/nope"]) == 2
    assert "no such component" in capsys.readouterr().err
    assert main(["suggest", "--configs", str(world), "--layout", "x/{nickname}.toml"]) == 2
    assert "matches no config" in capsys.readouterr().err
