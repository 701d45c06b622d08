"""Insights: hand-built histories with exact answers, the Git case (no events), and the Dagster assets."""

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from karma_pipelines.contracts.schema import CONFIG_SNAPSHOTS, DEPLOY_RECORDS, KARMA_EVENTS
from karma_pipelines.defs.insights import INSIGHT_ASSETS
from karma_pipelines.insights import (
    INSIGHTS,
    downstream_invalidations,
    first_deploy_validation,
)
from karma_pipelines.records import deploy_tables_from_events
from karma_pipelines.simulator import SimulationConfig, simulate_world
from tests.factories import T0, clean_world_events, history

H = pd.Timedelta(hours=1)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def events_frame(rows: list[tuple]) -> pd.DataFrame:
    """A clean karma_events table from (hours after T0, event_type, entity_id, correlation_id, attrs)."""
    if not rows:
        return KARMA_EVENTS.empty()
    records = []
    for i, (hours, event_type, entity, correlation, attrs) in enumerate(rows, start=1):
        ts = T0 + hours * H
        records.append(
            {
                "record_id": f"t.jsonl:{i}",
                "source_file": "t.jsonl",
                "line_no": i,
                "raw": "{}",
                "parse_error": None,
                "ts": ts,
                "ts_raw": ts.isoformat(),
                "event_type": event_type,
                "entity_id": entity,
                "correlation_id": correlation,
                "idempotency_key": f"key-{i}",
                "source": "cli",
                "attrs_kind": "object",
                "attrs": attrs,
                "tags": {"Environment": "dev"},
                "envelope_error": None,
                "duplicate_of": None,
                "conflicts_with": None,
            }
        )
    return KARMA_EVENTS.conform(pd.DataFrame(records))


def set_failed(deploys: pd.DataFrame, *deploy_ids: str) -> pd.DataFrame:
    out = deploys.copy()
    out.loc[out["deploy_id"].isin(deploy_ids), "outcome"] = "failed"
    return out


# -- downstream invalidations -------------------------------------------------------------------------


def test_the_change_with_three_invalidations_ranks_first_and_rejected_changes_invalidate_nothing():
    deploys, snaps = history(
        [
            {"id": "d1", "hours": 0, "component": "vpc/a", "change_id": "chg-1"},
            {"id": "d2", "hours": 1, "component": "s3-bucket/b", "change_id": "chg-2"},
            {"id": "d3", "hours": 2, "component": "vpc/c", "change_id": "chg-3"},
            {"id": "d4", "hours": 3, "component": "vpc/d", "change_id": "chg-4"},
        ]
    )
    x, y, z = "ecs-service/x", "ecs-service/y", "ecs-service/z"
    events = events_frame(
        [
            (0, "change.result", "vpc/a", "chg-1", {"status": "applied", "affected_components": [x, y, z]}),
            *[
                (0.1, "downstream.invalidated", d, "chg-1", {"deploy_id": "d1", "cause": "vpc/a"})
                for d in (x, y, z)
            ],
            (1, "change.result", "s3-bucket/b", "chg-2", {"status": "applied", "affected_components": [x]}),
            (2, "change.result", "vpc/c", "chg-3", {"status": "rejected", "affected_components": [y, z]}),
            (3, "change.result", "vpc/d", "chg-4", {"status": "queued", "affected_components": [y]}),
            (3.1, "downstream.invalidated", x, "chg-4", {"deploy_id": "d4", "cause": "vpc/d"}),
            (3.2, "downstream.invalidated", y, "chg-4", {"deploy_id": "d4", "cause": "vpc/d"}),
        ]
    )
    result = downstream_invalidations.compute(events, deploys, snaps)
    ranked = result.changes.set_index("change_id")["n_invalidated"]
    assert list(ranked.index) == ["chg-1", "chg-4", "chg-2", "chg-3"]
    assert ranked.to_dict() == {"chg-1": 3, "chg-4": 2, "chg-2": 1, "chg-3": 0}
    assert result.changes.iloc[0]["invalidated"] == sorted([x, y, z])
    assert result.numbers["invalidations"] == 6
    assert result.numbers["changes_with_invalidations"] == 3
    causes = result.causes.set_index("component")["invalidations"]
    assert causes.to_dict() == {"vpc/a": 3, "vpc/d": 2, "s3-bucket/b": 1}
    assert result.causes.iloc[0]["component"] == "vpc/a"
    hit = result.invalidated.set_index("component")
    assert hit.loc[x, "times_invalidated"] == 3 and hit.loc[x, "distinct_causes"] == 3
    assert "chg-1" in result.summary and (result.changes["method"] == "events").all()


def test_git_invalidations_follow_the_dependency_graph_transitively_and_as_it_changes():
    deploys, snaps = history(
        [
            {
                "id": "v1",
                "hours": 0,
                "component": "vpc/core",
                "change_id": "c1",
                "config": {"cidr": "10.0.0.0/16"},
            },
            {
                "id": "k1",
                "hours": 1,
                "component": "ecs-cluster/k",
                "change_id": "c2",
                "config": {"vpc_nickname": "core"},
            },
            {
                "id": "s1",
                "hours": 2,
                "component": "ecs-service/s",
                "change_id": "c3",
                "config": {"cluster_nickname": "k", "vpc_nickname": "core"},
            },
            {
                "id": "t1",
                "hours": 3,
                "component": "ecs-service/t",
                "change_id": "c4",
                "config": {"vpc_nickname": "core"},
            },
            {
                "id": "v2",
                "hours": 4,
                "component": "vpc/core",
                "change_id": "c5",
                "config": {"cidr": "10.1.0.0/16"},
            },
            {
                "id": "k2",
                "hours": 5,
                "component": "ecs-cluster/k",
                "change_id": "c6",
                "config": {"vpc_nickname": "core"},
            },
            {
                "id": "t2",
                "hours": 6,
                "component": "ecs-service/t",
                "change_id": "c7",
                "config": {"image": "x"},
            },
            {
                "id": "v3",
                "hours": 7,
                "component": "vpc/core",
                "change_id": "c8",
                "config": {"cidr": "10.2.0.0/16"},
            },
            # One commit deploying a producer and its consumer: the consumer is not "downstream" of it.
            {
                "id": "v4",
                "hours": 8,
                "component": "vpc/core",
                "change_id": "c9",
                "config": {"cidr": "10.3.0.0/16"},
            },
            {
                "id": "k3",
                "hours": 8,
                "component": "ecs-cluster/k",
                "change_id": "c9",
                "config": {"vpc_nickname": "core"},
            },
        ]
    )
    result = downstream_invalidations.compute(KARMA_EVENTS.empty(), deploys, snaps)
    counts = result.changes.set_index("change_id")["n_invalidated"].to_dict()
    assert counts == {"c1": 0, "c2": 0, "c3": 0, "c4": 0, "c5": 3, "c6": 1, "c7": 0, "c8": 2, "c9": 1}
    assert result.changes.iloc[0]["change_id"] == "c5"
    assert result.changes.iloc[0]["invalidated"] == ["ecs-cluster/k", "ecs-service/s", "ecs-service/t"]
    assert (result.changes["method"] == "graph").all()
    assert any("dependency graph" in n for n in result.notes)


# -- first deploy validation --------------------------------------------------------------------------


def _first_deploy_history():
    return history(
        [
            {"id": "a1", "hours": 0, "component": "vpc/a", "change_id": "ca1"},
            {"id": "b1", "hours": 1, "component": "vpc/b", "change_id": "cb1"},
            {"id": "c1", "hours": 2, "component": "s3-bucket/c", "change_id": "cc1"},
            {"id": "e1", "hours": 3, "component": "s3-bucket/e", "change_id": "ce1"},
            {"id": "a2", "hours": 10, "component": "vpc/a", "change_id": "ca2"},
            {"id": "b2", "hours": 11, "component": "vpc/b", "change_id": "cb2"},
            {"id": "e_rb", "hours": 20, "component": "s3-bucket/e", "rolls_back": "e1", "change_id": "ce1"},
        ]
    )


def test_first_deploy_validation_failures_by_type_with_later_deploys_as_baseline():
    deploys, snaps = _first_deploy_history()
    events = events_frame(
        [
            (0.1, "validation.failed", "vpc/a", "ca1", {"deploy_id": "a1", "check": "schema"}),
            (11.1, "validation.failed", "vpc/b", "cb2", {"deploy_id": "b2", "check": "plan"}),
            # No deploy id: linked by component and change request.
            (3.1, "validation.failed", "s3-bucket/e", "ce1", {"check": "required_fields"}),
        ]
    )
    result = first_deploy_validation.compute(events, deploys, snaps)
    assert result.measure == "validation.failed"
    failed = result.components.loc[result.components["failed_first_deploy"], "component"]
    assert sorted(failed) == ["s3-bucket/e", "vpc/a"]
    by_type = result.by_type.set_index("component_type")
    assert by_type.loc["vpc", ["components", "failed", "later_deploys", "later_failed"]].tolist() == [
        2,
        1,
        2,
        1,
    ]
    assert by_type.loc["vpc", "rate"] == 0.5 and by_type.loc["vpc", "later_rate"] == 0.5
    assert by_type.loc["s3-bucket", "rate"] == 0.5 and np.isnan(by_type.loc["s3-bucket", "later_rate"])
    assert by_type.loc["vpc", "ci_low"] < 0.5 < by_type.loc["vpc", "ci_high"]
    assert result.numbers["first_deploys"] == 4  # the rollback e_rb is not a first deploy
    assert result.numbers["first_deploy_failure_rate"] == 0.5
    checks = result.by_check.set_index("check")
    assert checks.loc["schema", "first_deploys"] == 1 and checks.loc["plan", "first_deploys"] == 0
    assert checks.loc["plan", "all_deploys"] == 1


def test_first_deploy_without_events_counts_rolled_back_or_failed_first_deploys():
    deploys, snaps = _first_deploy_history()
    deploys = set_failed(deploys, "c1")
    result = first_deploy_validation.compute(KARMA_EVENTS.empty(), deploys, snaps)
    assert result.measure == "failed_or_rolled_back"
    failed = result.components.loc[result.components["failed_first_deploy"], "component"]
    assert sorted(failed) == ["s3-bucket/c", "s3-bucket/e"]
    assert result.by_type.set_index("component_type").loc["s3-bucket", "rate"] == 1.0
    assert result.components["validation_failed"].isna().all()
    assert result.by_check.empty and any("no event log" in n for n in result.notes)


# -- drift ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(INSIGHTS))
def test_every_insight_runs_without_events_and_on_nothing_and_draws_a_png(name, tmp_path):
    module = INSIGHTS[name]
    deploys, snaps = _first_deploy_history()
    git = module.compute(KARMA_EVENTS.empty(), deploys, snaps)
    assert isinstance(git.table, pd.DataFrame) and git.summary.startswith("### ")
    assert all(isinstance(v, int | float) for v in git.numbers.values())
    nothing = module.compute(KARMA_EVENTS.empty(), DEPLOY_RECORDS.empty(), CONFIG_SNAPSHOTS.empty())
    assert nothing.table.empty
    for label, result in (("git", git), ("nothing", nothing)):
        path = module.plot(result, tmp_path / f"{label}.png")
        assert path.read_bytes().startswith(PNG_MAGIC)
    if name == "config_runtime_drift":
        assert git.table.empty and any("no event log" in n for n in git.notes)


@pytest.fixture(scope="module")
def small_world(tmp_path_factory):
    """A small simulated world's clean events (every line planted malformed dropped, as the suite does)
    and its deploy tables."""
    root = tmp_path_factory.mktemp("ins") / "world"
    simulate_world(root, SimulationConfig(seed=4, components=24, days=30))
    events, world = clean_world_events(root)
    deploys, snaps = deploy_tables_from_events(events, horizon=pd.Timedelta(days=7), as_of=world.end)
    return events, deploys, snaps


def test_graph_invalidations_agree_with_the_event_log_on_a_simulated_world(small_world):
    events, deploys, snaps = small_world
    observed = downstream_invalidations.compute(events, deploys, snaps).changes.set_index("change_id")
    inferred = downstream_invalidations.compute(KARMA_EVENTS.empty(), deploys, snaps).changes.set_index(
        "change_id"
    )
    both = (
        observed["n_invalidated"]
        .to_frame("events")
        .join(inferred["n_invalidated"].rename("graph"), how="inner")
    )
    assert both["events"].sum() > 0
    assert (both["events"] == both["graph"]).mean() > 0.95


def test_dagster_materializes_every_insight_asset_with_numbers_summary_and_plot(small_world):
    events, deploys, snaps = small_world

    @dg.asset(name="clean_karma_events")
    def stub_events() -> pd.DataFrame:
        return events

    @dg.asset(name="deploy_records")
    def stub_deploys() -> pd.DataFrame:
        return deploys

    @dg.asset(name="config_snapshots")
    def stub_snapshots() -> pd.DataFrame:
        return snaps

    result = dg.materialize([stub_events, stub_deploys, stub_snapshots, *INSIGHT_ASSETS])
    assert result.success
    for asset in INSIGHT_ASSETS:
        name = asset.key.to_user_string()
        assert asset.group_names_by_key[asset.key] == "insights"
        (materialization,) = result.asset_materializations_for_node(name)
        meta = materialization.metadata
        assert meta["plot"].value.startswith("![") and "data:image/png;base64," in meta["plot"].value
        assert isinstance(meta["summary"], dg.MarkdownMetadataValue)
        expected = INSIGHTS[name].compute(events, deploys, snaps)
        for key, value in expected.numbers.items():
            if isinstance(value, int):
                assert isinstance(meta[key], dg.IntMetadataValue) and meta[key].value == value
            elif np.isfinite(value):
                assert isinstance(meta[key], dg.FloatMetadataValue)
        pd.testing.assert_frame_equal(result.output_for_node(name), expected.table)
