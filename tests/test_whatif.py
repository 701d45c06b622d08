"""What-if of a proposed change: the change file's errors, the blast radius against the simulator's own
`affected_components`, and the `whatif` command on a pipeline's champion (real Dagster/MLflow stores)."""

import json

import pandas as pd
import pytest

from karma_pipelines.apps.cli import main
from karma_pipelines.pipeline.tables import load_tables
from karma_pipelines.records import DEFAULT_HORIZON
from karma_pipelines.sources.open import open_source
from karma_pipelines.whatif.change import parse_change
from karma_pipelines.whatif.impact import WhatIfEngine
from karma_pipelines.whatif.replay import replay_invalidations
from karma_pipelines.whatif.rewrite_report import rewrites_table
from karma_pipelines.whatif.rewrites import suggest_rewrites
from karma_pipelines.whatif.suggestions import FieldSuggester

KEYS = ["component", "environment", "changed_fields", "blast_radius", "risk", "suggestions", "promotion_path"]


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"environment": "dev", "config": {}}, "component"),
        ({"component": "no-slash", "config": {}}, "component"),
        ({"component": "vpc/a", "environment": 3, "config": {}}, "environment"),
        ({"component": "vpc/a"}, "config"),
        ({"component": "vpc/a", "config": {}, "patch": {"x": 1}}, "config"),
        ({"component": "vpc/a", "config": [1]}, "config"),
        ({"component": "vpc/a", "patch": {}}, "patch"),
        ({"component": "vpc/a", "patch": {"a..b": 1}}, "patch.a..b"),
        ({"component": "vpc/a", "patch": {"x": 1}, "colour": "red"}, "colour"),
    ],
)
def test_a_bad_change_names_the_field(doc, field):
    with pytest.raises(ValueError, match=f"field '{field}'"):
        parse_change(doc, "change.json")


def test_a_patch_is_redacted_and_applied_with_null_removing():
    change = parse_change(
        {"component": "ecs-service/api-dev", "patch": {"environment": {"STRIPE_KEY": "sk_live_abc"},
                                                      "cpu": 512, "memory": None}}
    )  # fmt: skip
    assert "sk_live_abc" not in json.dumps(change.patch)
    current = {"cpu": 256, "memory": 1024, "environment": {"STRIPE_KEY": "***REDACTED***"}}
    new = change.new_config(current)
    assert new["cpu"] == 512 and "memory" not in new
    # The secret's redacted value cannot tell, but the patch names it: it counts as changed.
    assert change.changed_fields(current) == ["cpu", "environment.STRIPE_KEY", "memory"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A small simulated world with planted twins: (folder, validated tables)."""
    from karma_pipelines.simulator import SimulationConfig, simulate_world

    out = tmp_path_factory.mktemp("world")
    simulate_world(out, SimulationConfig(seed=3, components=50, days=75, twins=3))
    return out, load_tables(open_source("events", str(out)), DEFAULT_HORIZON)


@pytest.fixture(scope="module")
def small_tables(world):
    return world[1]


def test_replayed_blast_radius_matches_the_logged_affected_components(small_tables):
    engine = WhatIfEngine.from_tables(small_tables)
    figures = replay_invalidations(engine, small_tables.clean_events, limit=150)
    assert figures["with_invalidations"] >= 20  # enough changes that invalidate something to judge
    assert figures["precision"] >= 0.9 and figures["recall"] >= 0.9, figures


def test_blast_radius_paths_lead_from_the_change_through_readers(small_tables):
    engine = WhatIfEngine.from_tables(small_tables)
    graph = engine.graphs.at(engine.end)
    producer = max(graph, key=lambda n: len(graph.pred[n]) if graph.nodes[n].get("known") else -1)
    found = engine.analyse(parse_change({"component": producer, "patch": {"tags.Owner": "sre"}}))
    assert found.changed_fields == ["tags.Owner"] and found.blast_radius
    for item in found.blast_radius:
        path = item["path"]
        assert path[0] == producer and path[-1] == item["component"]
        assert all(graph.has_edge(b, a) for a, b in zip(path, path[1:], strict=False))  # b reads a
        assert item["reads"] and set(item["reads"]) <= set(graph.edges[path[-1], path[-2]]["kind"].split(","))
    same = engine.analyse(
        parse_change({"component": producer, "patch": {"tags.Owner": found_owner(engine, producer)}})
    )
    assert same.changed_fields == [] and same.blast_radius == []  # nothing changes: nothing invalidated
    # The replay's engine without models gives the same radius, and leaves the engine's models alone.
    with_models = WhatIfEngine.from_tables(
        small_tables, suggester=FieldSuggester.trained(small_tables.config_snapshots)
    )
    plain = with_models.graph_only()
    again = plain.analyse(parse_change({"component": producer, "patch": {"tags.Owner": "sre"}}))
    assert again.blast_radius == found.blast_radius and again.suggestions == {"missing": [], "unused": []}
    assert plain.graphs is with_models.graphs and with_models.suggester is not None


def found_owner(engine, component):
    config, _ = engine.current(component, engine.end)
    return config["tags"]["Owner"]


def test_whatif_command_prints_the_issue_keys_with_risk_and_no_secret(simulated_pipeline, tmp_path, capsys):
    home, _ = simulated_pipeline
    world = home / "world"
    component = sorted(
        p.parent.name for p in (world / "configs" / "iac" / "dev" / "vpc").glob("*/config.json")
    )[0]
    change = tmp_path / "change.json"
    patch = {"az_count": 4, "db_password": "hunter2-Xy9-secret"}
    change.write_text(json.dumps({"component": f"vpc/{component}", "environment": "dev", "patch": patch}))
    assert (
        main(["whatif", "--events", str(world), "--change", str(change), "--home", str(home), "--json"]) == 0
    )
    out = capsys.readouterr().out
    doc = json.loads(out)
    assert list(doc) == KEYS
    assert "hunter2" not in out and "db_password" in doc["changed_fields"]
    assert 0.0 <= doc["risk"]["score"] <= 1.0 and isinstance(doc["risk"]["reasons"], list)
    assert set(doc["suggestions"]) == {"missing", "unused"}
    assert [p["environment"] for p in doc["promotion_path"]] == ["staging", "prod"]
    assert all(set(b) == {"component", "environment", "path", "reads"} for b in doc["blast_radius"])
    plot = tmp_path / "radius.png"
    args = [
        "whatif",
        "--events",
        str(world),
        "--change",
        str(change),
        "--home",
        str(home),
        "--plot",
        str(plot),
    ]
    assert main(args) == 0
    assert plot.read_bytes().startswith(b"\x89PNG")
    text = capsys.readouterr().out
    assert text.startswith(f"### What if `vpc/{component}` (dev)") and "Rollback risk" in text


def test_whatif_command_refuses_a_bad_change_file_naming_the_field(tmp_path, capsys):
    change = tmp_path / "change.json"
    change.write_text(json.dumps({"component": "vpc/x", "patch": "az_count=3"}))
    assert main(["whatif", "--events", str(tmp_path), "--change", str(change)]) == 2
    assert "field 'patch'" in capsys.readouterr().err


def test_graph_rewrite_suggestions_asset_has_a_summary_and_a_picture(simulated_pipeline):
    _, result = simulated_pipeline
    events = [
        e.step_materialization_data.materialization
        for e in result.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "graph_rewrite_suggestions"
    ]
    assert len(events) == 1
    meta = events[0].metadata
    assert meta["summary"].value.startswith("### Safe dependency-graph rewrites:")
    assert meta["plot"].value.startswith("![graph rewrites](data:image/png;base64,")
    assert meta["rewrites"].value == len(result.output_for_node("graph_rewrite_suggestions"))


def test_a_change_in_the_wrong_environment_or_of_an_unknown_component_is_refused(small_tables):
    engine = WhatIfEngine.from_tables(small_tables)
    component, env = small_tables.config_snapshots[["component", "environment"]].iloc[0]
    other = "prod" if env != "prod" else "dev"
    with pytest.raises(ValueError, match="field 'environment'"):
        engine.analyse(parse_change({"component": component, "environment": other, "patch": {"x": 1}}))
    with pytest.raises(ValueError, match="not in the history"):
        engine.analyse(parse_change({"component": "vpc/nowhere", "patch": {"x": 1}}))
    created = engine.analyse(
        parse_change({"component": "vpc/new-dev", "environment": "dev", "config": {"cidr": "x"}})
    )
    assert created.action == "create" and created.changed_fields == ["cidr"] and created.blast_radius == []


def test_planted_twins_are_found_and_each_rewrite_has_its_predicted_effect(world):
    out, tables = world
    truth = pd.read_csv(out / "ground_truth" / "planted_rewrites.csv")
    assert len(truth) >= 3
    found = suggest_rewrites(WhatIfEngine.from_tables(tables))
    got = {(r.consumer, r.source, r.target) for r in found}
    hits = sum((c, f, t) in got for c, f, t in truth.itertuples(index=False))
    assert hits / len(truth) >= 0.6, (hits, len(truth), sorted(got))
    for rw in found:
        assert rw.effect["invalidations_per_month_after"] <= rw.effect["invalidations_per_month_before"]
        assert rw.effect["rewrite_invalidates"] == rw.effect["readers"] - 1  # the consumer's own readers
    table = rewrites_table(found)
    assert list(table["from"]) and (table["invalidations_saved_per_month"] >= 0).all()
