"""Blocking data-quality checks: clean tables pass their suites, and every raw row is accounted for."""

import os
from pathlib import Path

import dagster as dg
import pandas as pd

from karma_pipelines.contracts.schema import CONFIG_SNAPSHOTS, DEPLOY_RECORDS, KARMA_EVENTS, Table
from karma_pipelines.defs.metadata import markdown_table
from karma_pipelines.sources.base import RawTables, World
from karma_pipelines.validation import validate_table


def _suite_check(frame: pd.DataFrame, table: Table, world: World) -> dg.AssetCheckResult:
    params = world.suite_parameters(frame if table is not KARMA_EVENTS else None)
    docs = Path(os.environ.get("KARMA_HOME", ".karma"), "gx_docs", f"{table.name}.html").resolve()
    outcome = validate_table(frame, table, params, docs_path=docs)
    return dg.AssetCheckResult(
        passed=bool(outcome.success),
        metadata={
            "suite": f"assets/expectations/{table.name}.json",
            "data_docs": dg.MetadataValue.url(docs.as_uri()),  # a self-contained page: opens offline
            "rows": len(frame),
            "failing_rows": len(outcome.quarantined),
            "expectations": markdown_table(outcome.results, max_rows=40),
        },
    )


@dg.asset_check(asset="clean_karma_events", blocking=True, additional_ins={"karma_world": dg.AssetIn()})
def check_clean_karma_events_suite(clean_karma_events: pd.DataFrame, karma_world: World):
    """The clean events pass every expectation of the karma_events suite."""
    return _suite_check(clean_karma_events, KARMA_EVENTS, karma_world)


@dg.asset_check(asset="deploy_records", blocking=True, additional_ins={"karma_world": dg.AssetIn()})
def check_deploy_records_suite(deploy_records: pd.DataFrame, karma_world: World):
    """The clean deploy records pass every expectation of the deploy_records suite."""
    return _suite_check(deploy_records, DEPLOY_RECORDS, karma_world)


@dg.asset_check(asset="config_snapshots", blocking=True, additional_ins={"karma_world": dg.AssetIn()})
def check_config_snapshots_suite(config_snapshots: pd.DataFrame, karma_world: World):
    """The clean config snapshots pass every expectation of the config_snapshots suite."""
    return _suite_check(config_snapshots, CONFIG_SNAPSHOTS, karma_world)


@dg.asset_check(
    asset="quarantined_records",
    blocking=True,
    additional_ins={"source_records": dg.AssetIn(), "clean_karma_events": dg.AssetIn()},
)
def check_quarantine_accounting(
    quarantined_records: pd.DataFrame, source_records: RawTables, clean_karma_events: pd.DataFrame
) -> dg.AssetCheckResult:
    """Every raw event line is in exactly one of clean_karma_events and quarantined_records."""
    raw = set(source_records.events["record_id"])
    clean = set(clean_karma_events["record_id"])
    quarantined_events = quarantined_records[quarantined_records["table"] == "karma_events"]
    held = set(quarantined_events["record_id"])
    lost, both = raw - clean - held, clean & held
    return dg.AssetCheckResult(
        passed=not lost and not both and len(held) == len(quarantined_events),
        metadata={
            "raw_rows": len(raw),
            "clean_rows": len(clean),
            "quarantined_rows": len(held),
            "lost_rows": len(lost),
            "in_both": len(both),
            "examples_lost": markdown_table(pd.DataFrame({"record_id": sorted(lost)[:10]})),
        },
    )
