"""Validate: Great Expectations suites split every table into clean rows and quarantined rows."""

from pathlib import Path

import dagster as dg
import pandas as pd

from karma_pipelines.defs.metadata import markdown_table, table_summary
from karma_pipelines.defs.resources import KarmaSourceResource
from karma_pipelines.records import deploy_tables_from_events
from karma_pipelines.records.validated import validate_deploy_tables
from karma_pipelines.schema import KARMA_EVENTS, QUARANTINED_RECORDS
from karma_pipelines.source_tables import git_tables
from karma_pipelines.validation import validate_table
from karma_pipelines.world import World

GROUP = "validate"
TAGS = {"kinds": {"pandas", "great_expectations"}, "code_version": "1", "owners": ["team:ml-platform"]}


def _out(description: str) -> dg.AssetOut:
    return dg.AssetOut(group_name=GROUP, description=description, **TAGS)


def _failures(results: pd.DataFrame) -> dg.MetadataValue:
    failed = results[~results["success"]] if len(results) else results
    return markdown_table(failed if len(failed) else results.head(0))


@dg.multi_asset(
    outs={
        "clean_karma_events": _out("Events that pass the karma_events suite."),
        "karma_events_quarantine": _out("Events that fail it, with the failed expectations."),
    },
)
def validate_karma_events(context: dg.AssetExecutionContext, karma_world: World, karma_events: pd.DataFrame):
    """Run `assets/expectations/karma_events.json` on every raw event row."""
    if karma_events.empty:
        empty = QUARANTINED_RECORDS.empty()
        yield dg.Output(karma_events, output_name="clean_karma_events", metadata=table_summary(karma_events))
        yield dg.Output(empty, output_name="karma_events_quarantine", metadata=table_summary(empty))
        return
    outcome = validate_table(karma_events, KARMA_EVENTS, karma_world.suite_parameters())
    yield dg.Output(outcome.clean, output_name="clean_karma_events", metadata=table_summary(outcome.clean))
    yield dg.Output(
        outcome.quarantined,
        output_name="karma_events_quarantine",
        metadata={
            **table_summary(outcome.quarantined),
            "input_rows": len(karma_events),
            "failed_expectations": _failures(outcome.results),
        },
    )


@dg.multi_asset(
    outs={
        "deploy_records": _out("One row per deploy of one component (validated)."),
        "config_snapshots": _out("The config after each deploy, secrets redacted (validated)."),
        "deploy_tables_quarantine": _out("Deploy and snapshot rows that failed their suites."),
    },
)
def deploy_tables(
    context: dg.AssetExecutionContext,
    karma_source: KarmaSourceResource,
    karma_world: World,
    clean_karma_events: pd.DataFrame,
):
    """Deploy records and config snapshots from the clean events (or, for a Git source, from the
    repository's history, read incrementally), each validated by its own suite."""
    if karma_world.kind == "git":
        tables = git_tables(
            karma_world.root,
            karma_source.layout,
            karma_source.ref,
            karma_source.horizon,
            state_dir=Path(karma_source.state_dir),
        )
        source_meta = {"commits": tables.commits, "new_commits": tables.new_commits or 0}
    else:
        source_meta = {}
        records, snapshots = deploy_tables_from_events(
            clean_karma_events, horizon=karma_source.horizon, as_of=karma_world.end
        )
        tables = validate_deploy_tables(records, snapshots, karma_world.suite_parameters())
    deploys = tables.deploy_records
    labelled = deploys[deploys["labelled"]]
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
            **source_meta,
        },
    )
    yield dg.Output(
        tables.config_snapshots,
        output_name="config_snapshots",
        metadata=table_summary(tables.config_snapshots),
    )
    yield dg.Output(
        tables.quarantined,
        output_name="deploy_tables_quarantine",
        metadata={
            **table_summary(tables.quarantined),
            "by_reason": markdown_table(
                tables.quarantined["reasons"].value_counts().rename_axis("reasons").reset_index(), 20
            ),
        },
    )


@dg.asset(group_name=GROUP, **TAGS)
def quarantined_records(
    karma_events_quarantine: pd.DataFrame, deploy_tables_quarantine: pd.DataFrame
) -> dg.Output[pd.DataFrame]:
    """Every row that failed validation anywhere, with the failed expectations as its reason."""
    all_rows = QUARANTINED_RECORDS.conform(
        pd.concat([karma_events_quarantine, deploy_tables_quarantine], ignore_index=True)
    )
    reasons = (
        all_rows.assign(reason=all_rows["reasons"].str.split("; "))
        .explode("reason")
        .groupby(["table", "reason"])
        .size()
        .rename("rows")
        .reset_index()
        .sort_values("rows", ascending=False)
    )
    return dg.Output(all_rows, metadata={**table_summary(all_rows), "by_reason": markdown_table(reasons, 40)})
