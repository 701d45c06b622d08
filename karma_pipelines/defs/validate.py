"""Validate: the one path from a source's raw tables to clean, labelled tables and quarantine."""

import dagster as dg
import pandas as pd

from karma_pipelines.defs.metadata import markdown_table, table_summary
from karma_pipelines.defs.resources import KarmaSourceResource
from karma_pipelines.pipeline.tables import validated_tables
from karma_pipelines.sources.base import RawTables, World

GROUP = "validate"
TAGS = {"kinds": {"pandas", "great_expectations"}, "code_version": "2", "owners": ["team:ml-platform"]}


def _out(description: str) -> dg.AssetOut:
    return dg.AssetOut(group_name=GROUP, description=description, **TAGS)


@dg.multi_asset(
    outs={
        "clean_karma_events": _out("Event-log lines that pass the karma_events suite (none for Git)."),
        "deploy_records": _out("One row per deploy of one component (validated, labelled)."),
        "config_snapshots": _out("The config after each deploy, secrets redacted (validated)."),
        "quarantined_records": _out("Every row that failed validation anywhere, with its reasons."),
    },
)
def validated_source_tables(karma_source: KarmaSourceResource, karma_world: World, source_records: RawTables):
    """Run the Great Expectations suites (`assets/expectations/`) on every raw row: events first,
    then the deploy tables built from the clean events (or read from Git), each by its own suite."""
    tables = validated_tables(karma_world, source_records, karma_source.horizon)
    deploys, failed = tables.deploy_records, tables.quarantined
    labelled = deploys[deploys["labelled"]]
    results = tables.event_results
    yield dg.Output(
        tables.clean_events,
        output_name="clean_karma_events",
        metadata={
            **table_summary(tables.clean_events),
            "input_rows": len(tables.raw_events),
            "failed_expectations": markdown_table(
                results[~results["success"]] if len(results) else pd.DataFrame()
            ),
        },
    )
    yield dg.Output(
        deploys,
        output_name="deploy_records",
        metadata={
            **table_summary(deploys),
            "labelled": len(labelled),
            "rolled_back": int(labelled["rolled_back"].sum()),
            "rollback_rate": float(labelled["rolled_back"].mean()) if len(labelled) else 0.0,
            "components": int(deploys["component"].nunique()),
            "authors": int(deploys["author"].nunique()),
            "commits": tables.commits,
            "new_commits": tables.new_commits or 0,
            "horizon_days": tables.horizon / pd.Timedelta(days=1),
        },
    )
    yield dg.Output(
        tables.config_snapshots,
        output_name="config_snapshots",
        metadata=table_summary(tables.config_snapshots),
    )
    reasons = (
        failed.assign(reason=failed["reasons"].str.split("; "))
        .explode("reason")
        .groupby(["table", "reason"])
        .size()
        .rename("rows")
        .reset_index()
        .sort_values("rows", ascending=False)
    )
    yield dg.Output(
        failed,
        output_name="quarantined_records",
        metadata={
            **table_summary(failed),
            "from_events": int((failed["table"] == "karma_events").sum()),
            "by_reason": markdown_table(reasons, 40),
        },
    )
