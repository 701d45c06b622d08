"""Day-file partitions of the event log: a new file is noticed by the sensor and only it is read."""

import shutil

import dagster as dg

from karma_pipelines.definitions import build_definitions
from karma_pipelines.defs.automation import karma_source_sensor
from karma_pipelines.defs.resources import KarmaSourceResource, MlflowResource
from karma_pipelines.defs.run import execute_all
from karma_pipelines.simulator import SimulationConfig, simulate_world

EXTRACT = [dg.AssetKey(k) for k in ("karma_world", "source_batches", "source_records")]


def test_a_new_day_file_becomes_a_partition_and_an_incremental_run(tmp_path):
    world = tmp_path / "world"
    simulate_world(world, SimulationConfig(seed=3, components=30, days=60))
    last = sorted((world / "events").glob("*.jsonl"))[-1]
    held_back = tmp_path / last.name
    shutil.move(last, held_back)  # the last day has not arrived yet

    source = KarmaSourceResource(kind="simulator", path=str(world), seed=3, components=30, days=60)
    defs = build_definitions(source, MlflowResource(home=str(tmp_path)), storage_dir=str(tmp_path / "io"))
    with dg.instance_for_test() as instance:
        # The extract steps are what partitions change; the rest of the graph is tested elsewhere.
        first = execute_all(defs, instance, source, asset_selection=EXTRACT)
        assert first.success
        lines_before = len(first.output_for_node("source_records").events)
        files = sorted(p.stem for p in (world / "events").glob("*.jsonl"))
        assert instance.get_dynamic_partitions("karma_source_batches") == files

        with dg.build_sensor_context(instance=instance, resources={"karma_source": source}) as ctx:
            assert isinstance(karma_source_sensor(ctx), dg.SensorResult)  # first look: all files
            ctx.update_cursor(ctx.cursor)
        cursor = karma_source_sensor(
            dg.build_sensor_context(instance=instance, resources={"karma_source": source})
        ).cursor

        shutil.move(held_back, last)  # the new day arrives
        ctx = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"karma_source": source})
        result = karma_source_sensor(ctx)
        assert [r.tags["dagster/asset_partition_range_start"] for r in result.run_requests] == [last.stem]
        assert result.dynamic_partitions_requests[0].partition_keys == [last.stem]
        instance.add_dynamic_partitions("karma_source_batches", [last.stem])

        job = defs.resolve_job_def("karma_ingest_job")
        second = job.execute_in_process(
            instance=instance, tags=result.run_requests[0].tags, asset_selection=EXTRACT
        )
        assert second.success
        read = second.output_for_node("source_batches")
        assert list(read) == [last.stem]  # only the new file was parsed
        events = second.output_for_node("source_records").events
        assert len(events) == lines_before + len(read[last.stem]) and len(read[last.stem]) > 0

        # Nothing changed since: the sensor skips.
        again = karma_source_sensor(
            dg.build_sensor_context(
                instance=instance, cursor=result.cursor, resources={"karma_source": source}
            )
        )
        assert isinstance(again, dg.SkipReason)
