"""Extract: the Karma world and its raw event log."""

import dagster as dg
import pandas as pd

from karma_pipelines.defs.metadata import markdown_table, table_summary
from karma_pipelines.defs.resources import KarmaSourceResource
from karma_pipelines.schema import KARMA_EVENTS
from karma_pipelines.sources.event_log import read_event_log
from karma_pipelines.world import World

GROUP = "extract"


@dg.asset(group_name=GROUP, kinds={"python"}, code_version="1", owners=["team:ml-platform"])
def karma_world(context: dg.AssetExecutionContext, karma_source: KarmaSourceResource) -> World:
    """The Karma world to learn from: simulated on first use (default) or an existing event-log folder."""
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


@dg.asset(group_name=GROUP, kinds={"pandas"}, code_version="1", owners=["team:ml-platform"])
def karma_events(context: dg.AssetExecutionContext, karma_world: World) -> pd.DataFrame:
    """Every line of the event log, parsed as far as it goes. Nothing is dropped here.
    (Empty for a Git source: its history is read by `deploy_tables`.)"""
    if karma_world.kind == "git":
        context.add_output_metadata({"dagster/row_count": 0, "source": "git: no event log"})
        return KARMA_EVENTS.empty()
    events = read_event_log(karma_world.events_dir)
    by_type = events["event_type"].fillna("<missing>").value_counts().rename_axis("event_type").reset_index()
    context.add_output_metadata(
        {
            **table_summary(events),
            "unparseable_lines": int(events["parse_error"].notna().sum()),
            "redelivered_lines": int(events["duplicate_of"].notna().sum()),
            "event_types": markdown_table(by_type),
        }
    )
    return events
