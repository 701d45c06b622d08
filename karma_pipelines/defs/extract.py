"""Extract: the Karma world, its event log one day file per partition, and the whole log as a table."""

import dagster as dg
import pandas as pd

from karma_pipelines.defs.metadata import markdown_table, table_summary
from karma_pipelines.defs.resources import KarmaSourceResource
from karma_pipelines.schema import KARMA_EVENTS
from karma_pipelines.sources.event_log import combine_event_days, read_event_log
from karma_pipelines.world import World

GROUP = "extract"
META = {"group_name": GROUP, "code_version": "1", "owners": ["team:ml-platform"]}
karma_event_days = dg.DynamicPartitionsDefinition(name="karma_event_days")


@dg.asset(kinds={"python"}, **META)
def karma_world(context: dg.AssetExecutionContext, karma_source: KarmaSourceResource) -> World:
    """The Karma world to learn from: simulated on first use (default), an event-log folder, or a
    Git repository."""
    world = karma_source.world()
    files = sorted(world.events_dir.glob("*.jsonl")) if world.kind == "events" else []
    context.add_output_metadata(
        {
            "path": dg.MetadataValue.path(str(world.root.resolve())),
            "kind": karma_source.kind,
            "event_files": len(files),
            "components": len(world.components),
            "start": world.start.isoformat(),
            "end": world.end.isoformat(),
        }
    )
    return world


@dg.asset(
    kinds={"pandas"},
    partitions_def=karma_event_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    **META,
)
def karma_event_files(context: dg.AssetExecutionContext, karma_world: World) -> dict[str, pd.DataFrame]:
    """The event log's day files, parsed: one partition per file (`YYYY-MM-DD`). A backfill of a date
    range reads its files in one run."""
    days = list(context.partition_keys)
    events = read_event_log(karma_world.events_dir, days=days)
    by_file = {name: rows for name, rows in events.groupby("source_file", sort=False)}
    context.add_output_metadata({"days": len(days), "lines": len(events)})
    return {day: by_file.get(f"{day}.jsonl", KARMA_EVENTS.empty()) for day in days}


def _describe(context: dg.AssetExecutionContext, events: pd.DataFrame) -> None:
    by_type = events["event_type"].fillna("<missing>").value_counts().rename_axis("event_type").reset_index()
    context.add_output_metadata(
        {
            **table_summary(events),
            "event_files": int(events["source_file"].nunique()),
            "unparseable_lines": int(events["parse_error"].notna().sum()),
            "redelivered_lines": int(events["duplicate_of"].notna().sum()),
            "event_types": markdown_table(by_type),
        }
    )


@dg.asset(name="karma_events", kinds={"pandas"}, **META)
def karma_events_from_files(
    context: dg.AssetExecutionContext, karma_event_files: dict[str, pd.DataFrame]
) -> pd.DataFrame:
    """Every line of the event log (all materialized day files), parsed as far as it goes; re-delivered
    events are marked across files. Nothing is dropped here."""
    events = combine_event_days([karma_event_files[day] for day in sorted(karma_event_files)])
    _describe(context, events)
    return events


@dg.asset(name="karma_events", kinds={"pandas"}, **META)
def karma_events_none(context: dg.AssetExecutionContext, karma_world: World) -> pd.DataFrame:
    """A Git source has no event log: an empty table (its history is read by `deploy_tables`)."""
    context.add_output_metadata({"dagster/row_count": 0, "source": f"{karma_world.kind}: no event log"})
    return KARMA_EVENTS.empty()


EVENT_LOG_ASSETS = [karma_world, karma_event_files, karma_events_from_files]
GIT_ASSETS = [karma_world, karma_events_none]
