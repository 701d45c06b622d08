"""A new day file updates the tables by appending: only the new lines are validated, only the new
deploys' features computed, and the result is exactly a full rebuild (checked by the asset check)."""

import pickle
import shutil

import dagster as dg
import pandas as pd
import pytest

from karma_pipelines.definitions import build_definitions
from karma_pipelines.defs.automation import range_tags
from karma_pipelines.defs.extract import karma_source_batches
from karma_pipelines.defs.resources import KarmaSourceResource, MlflowResource
from karma_pipelines.defs.run import execute_all
from karma_pipelines.features import build_rollback_features
from karma_pipelines.pipeline.tables import load_tables
from karma_pipelines.simulator import SimulationConfig, simulate_world

WORLD = {"seed": 5, "components": 25, "days": 40}
TABLES = ["karma_world", "source_batches", "source_records", "clean_karma_events", "deploy_records"]
TABLES += ["config_snapshots", "quarantined_records", "rollback_features"]
APPENDED_CHECK = dg.AssetCheckKey(dg.AssetKey("rollback_features"), "check_rollback_features_appended")


@pytest.fixture(scope="module")
def updated(tmp_path_factory):
    """A world materialized without its last day, then updated with it: (defs, instance, storage, runs)."""
    tmp = tmp_path_factory.mktemp("incremental")
    world = tmp / "world"
    simulate_world(world, SimulationConfig(**WORLD))
    last = sorted((world / "events").glob("*.jsonl"))[-1]
    shutil.move(last, tmp / last.name)
    source = KarmaSourceResource(kind="simulator", path=str(world), **WORLD)
    storage = tmp / "io"
    defs = build_definitions(source, MlflowResource(home=str(tmp)), storage_dir=str(storage))
    selection = [dg.AssetKey(k) for k in TABLES]
    with dg.instance_for_test() as instance:
        first = execute_all(defs, instance, source, asset_selection=selection)
        shutil.move(tmp / last.name, last)  # the new day arrives: one new partition, one run for it
        instance.add_dynamic_partitions(karma_source_batches.name, [last.stem])
        second = defs.resolve_job_def("karma_ingest_job").execute_in_process(
            instance=instance, tags=range_tags([last.stem]), asset_selection=selection
        )
        yield defs, instance, storage, source, first, second


def test_a_new_day_is_appended_and_equals_a_full_rebuild(updated):
    _, instance, _, source, first, second = updated
    assert first.success and second.success
    assert list(second.output_for_node("source_batches")) == [max(source.source().batch_keys())]

    meta = instance.get_latest_materialization_event(dg.AssetKey("rollback_features"))
    meta = meta.asset_materialization.metadata
    before = first.output_for_node("rollback_features")
    assert meta["reused_rows"].value == len(before) and meta["appended_rows"].value > 0
    validated = instance.get_latest_materialization_event(dg.AssetKey("deploy_records"))
    assert validated.asset_materialization.metadata["update"].value.startswith("appended")

    # The same tables from scratch, the one path the CLI takes: exactly equal.
    full = load_tables(source.source(), source.horizon)
    outputs = {
        name: second.output_for_node("validated_source_tables", name)
        for name in ("clean_karma_events", "deploy_records", "config_snapshots", "quarantined_records")
    }
    pd.testing.assert_frame_equal(outputs["clean_karma_events"], full.clean_events, check_exact=True)
    pd.testing.assert_frame_equal(outputs["deploy_records"], full.deploy_records, check_exact=True)
    pd.testing.assert_frame_equal(outputs["config_snapshots"], full.config_snapshots, check_exact=True)
    by_id = ["quarantine_id"]
    pd.testing.assert_frame_equal(
        outputs["quarantined_records"].sort_values(by_id, ignore_index=True),
        full.quarantined.sort_values(by_id, ignore_index=True),
    )
    features = second.output_for_node("rollback_features")
    rebuilt = build_rollback_features(full.deploy_records, full.config_snapshots)
    pd.testing.assert_frame_equal(features, rebuilt, check_exact=True)
    # Labels of earlier deploys were refreshed: some became known with the new day.
    assert (features["labelled"].iloc[: len(before)] != before["labelled"]).any()

    checks = {e.check_name: e.passed for e in second.get_asset_check_evaluations()}
    assert checks["check_rollback_features_appended"] is True


def test_the_check_fails_when_an_appended_row_was_tampered_with(updated):
    defs, instance, storage, _, _, second = updated
    path = storage / "rollback_features.pkl"
    table = pickle.loads(path.read_bytes())
    tampered = table.copy()
    tampered.loc[len(tampered) - 1, "comp_prior_deploys"] += 1  # the last row: appended by the update
    path.write_bytes(pickle.dumps(tampered))
    try:
        job = defs.resolve_job_def("karma_pipeline_job").get_subset(
            asset_selection=set(), asset_check_selection={APPENDED_CHECK}
        )
        result = job.execute_in_process(instance=instance, raise_on_error=False)
    finally:
        path.write_bytes(pickle.dumps(table))
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.passed is False
    assert evaluation.metadata["differing_cells"].value == 1
