"""Validate: the one path from a source's raw tables to clean, labelled tables and quarantine."""

import dagster as dg
import pandas as pd

from karma_pipelines.contracts.schema import (
    CONFIG_SNAPSHOTS,
    DEPLOY_RECORDS,
    KARMA_EVENTS,
    QUARANTINED_RECORDS,
    Table,
)
from karma_pipelines.defs.metadata import (
    definition_metadata,
    quarantine_metadata,
    records_table,
    table_metadata,
)
from karma_pipelines.defs.previous import (
    IoManager,
    metadata_value,
    previous_materialization,
    previous_value,
)
from karma_pipelines.defs.resources import KarmaSourceResource
from karma_pipelines.pipeline.appended_tables import PreviousTables, append_validated_tables
from karma_pipelines.pipeline.tables import validated_tables
from karma_pipelines.sources.base import RawTables, World

GROUP = "validate"
EVENT_PREVIEW = ["record_id", "ts", "event_type", "entity_id", "source", "duplicate_of"]
DEPLOY_PREVIEW = ["deploy_id", "deployed_at", "component", "environment", "author", "action", "outcome"]
DEPLOY_PREVIEW += ["n_fields_changed", "lines_added", "lines_removed", "labelled", "rolled_back"]
CODE_VERSION = "3"
TAGS = {
    "kinds": {"pandas", "great_expectations"},
    "code_version": CODE_VERSION,
    "owners": ["team:ml-platform"],
}


def _out(description: str, table: Table) -> dg.AssetOut:
    return dg.AssetOut(group_name=GROUP, description=description, metadata=definition_metadata(table), **TAGS)


@dg.multi_asset(
    outs={
        "clean_karma_events": _out(
            "Event-log lines that pass the karma_events suite (none for Git).", KARMA_EVENTS
        ),
        "deploy_records": _out("One row per deploy of one component (validated, labelled).", DEPLOY_RECORDS),
        "config_snapshots": _out(
            "The config after each deploy, secrets redacted (validated).", CONFIG_SNAPSHOTS
        ),
        "quarantined_records": _out(
            "Every row that failed validation anywhere, with its reasons.", QUARANTINED_RECORDS
        ),
    },
)
def validated_source_tables(
    context: dg.AssetExecutionContext,
    karma_source: KarmaSourceResource,
    io_manager: IoManager,
    karma_world: World,
    source_records: RawTables,
):
    """Run the Great Expectations suites (`assets/expectations/`) on every raw row: events first,
    then the deploy tables built from the clean events (or read from Git), each by its own suite.
    When the raw events were appended to, only the new rows are validated and appended to the
    previous tables (`pipeline/appended_tables.py`, equal to validating everything again)."""
    appended = _append(context, io_manager, karma_world, source_records, karma_source.horizon)
    if isinstance(appended, str):
        update, counts = f"rebuilt: {appended}", {}
        tables = validated_tables(karma_world, source_records, karma_source.horizon)
    else:
        tables = appended.tables
        update = f"appended {appended.new_events} new event rows"
        counts = {"new_deploys": appended.new_deploys, "relabelled_deploys": appended.relabelled}
    deploys, failed = tables.deploy_records, tables.quarantined
    context.log.info(f"validated_source_tables: {update}")
    labelled = deploys[deploys["labelled"]]
    results = tables.event_results
    yield dg.Output(
        tables.clean_events,
        output_name="clean_karma_events",
        metadata={
            **table_metadata(tables.clean_events, KARMA_EVENTS, columns=EVENT_PREVIEW),
            "input_rows": len(tables.raw_events),
            "update": update,
            "failed_expectations": records_table(
                results[~results["success"]] if len(results) else pd.DataFrame()
            ),
        },
    )
    yield dg.Output(
        deploys,
        output_name="deploy_records",
        metadata={
            **table_metadata(deploys, DEPLOY_RECORDS, columns=DEPLOY_PREVIEW),
            "labelled": len(labelled),
            "rolled_back": int(labelled["rolled_back"].sum()),
            "rollback_rate": float(labelled["rolled_back"].mean()) if len(labelled) else 0.0,
            "components": int(deploys["component"].nunique()),
            "authors": int(deploys["author"].nunique()),
            "commits": tables.commits,
            "new_commits": tables.new_commits or 0,
            "horizon_days": tables.horizon / pd.Timedelta(days=1),
            "update": update,
            **counts,
        },
    )
    yield dg.Output(
        tables.config_snapshots,
        output_name="config_snapshots",
        metadata=table_metadata(tables.config_snapshots, CONFIG_SNAPSHOTS),
    )
    yield dg.Output(
        failed,
        output_name="quarantined_records",
        metadata={
            **table_metadata(failed, QUARANTINED_RECORDS),
            **quarantine_metadata(failed),
            "from_events": int((failed["table"] == "karma_events").sum()),
        },
    )


def _append(context: dg.AssetExecutionContext, io_manager, world: World, raw: RawTables, horizon):
    """The tables appended to the previous outputs, or why they are rebuilt."""
    if raw.appended_rows is None:
        return "the raw events were rebuilt"
    keys = [dg.AssetKey(k) for k in ("deploy_records", "config_snapshots", "quarantined_records")]
    values = [previous_value(context, io_manager, key, CODE_VERSION) for key in keys]
    clean = previous_materialization(context.instance, dg.AssetKey("clean_karma_events"))
    clean_rows = metadata_value(clean, "dagster/row_count")
    if any(v is None for v in values) or clean_rows is None:
        return "no previous tables"
    records, snapshots, quarantined = values
    held = int((quarantined["table"] == KARMA_EVENTS.name).sum())
    previous = PreviousTables(int(clean_rows) + held, int(clean_rows), records, snapshots, quarantined)
    return append_validated_tables(previous, world, raw, horizon)
