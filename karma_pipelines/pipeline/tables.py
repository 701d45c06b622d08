"""The one path: any source's raw tables to validated, labelled tables and quarantine.

Used by the Dagster assets, every CLI command and the bench alike: events are validated by the
`karma_events` suite, deploy tables are built from the clean events (or taken from a source that
builds them, such as Git), and each is validated by its own suite. Nothing is dropped: every row that
fails is in `quarantined` with its failed expectations as the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from karma_pipelines.contracts.schema import KARMA_EVENTS, QUARANTINED_RECORDS
from karma_pipelines.records import deploy_tables_from_events
from karma_pipelines.records.from_events import deploy_inputs
from karma_pipelines.records.validated import validate_deploy_tables
from karma_pipelines.sources.base import RawTables, Source, World
from karma_pipelines.validation import validate_table


@dataclass(frozen=True)
class SourceTables:
    """Validated tables of one source, and what was read to make them."""

    world: World
    horizon: pd.Timedelta  # the label horizon: also the train/test gap of every model trained on them
    raw_events: pd.DataFrame  # every event-log line read (empty for a source without an event log)
    clean_events: pd.DataFrame
    deploy_records: pd.DataFrame
    config_snapshots: pd.DataFrame
    quarantined: pd.DataFrame  # every failed row, from any table, with its reasons
    event_results: pd.DataFrame  # one row per expectation of the karma_events suite
    commits: int  # commits (Git) or change requests (event log) read in all
    new_commits: int | None = None


def validated_tables(
    world: World, raw: RawTables, horizon: pd.Timedelta, keep_events: bool = True
) -> SourceTables:
    """Validate a source's raw tables; build deploy tables from the clean events when the source
    does not build them itself; label every deploy at `horizon`.

    `keep_events=False` (for a caller that reads the deploy tables only): `raw` is consumed, its events
    let go once validated and the clean ones once the deploy tables are built (the tables' `raw_events`
    and `clean_events` are empty), so a large log is not held through the rest."""
    if len(raw.events):
        events = validate_table(raw.events, KARMA_EVENTS, world.suite_parameters())
        clean, event_quarantine, results = events.clean, events.quarantined, events.results
        del events
    else:
        clean, event_quarantine, results = raw.events, QUARANTINED_RECORDS.empty(), pd.DataFrame()
    if not keep_events:  # the lines' text and every other event go: only what the deploy tables read stays
        raw.events = KARMA_EVENTS.empty()
        clean = deploy_inputs(clean)
    if raw.deploy_records is None:
        records, snapshots = deploy_tables_from_events(clean, horizon=horizon, as_of=world.end)
    else:
        records, snapshots = raw.deploy_records, raw.config_snapshots
    tables = validate_deploy_tables(records, snapshots, world.suite_parameters(records))
    quarantined = QUARANTINED_RECORDS.conform(
        pd.concat([event_quarantine, raw.quarantined, tables.quarantined], ignore_index=True)
    )
    if not keep_events:
        clean = KARMA_EVENTS.empty()
    commits = raw.commits
    if commits is None:
        commits = int(tables.deploy_records["change_id"].nunique())
    return SourceTables(
        world=world,
        horizon=horizon,
        raw_events=raw.events,
        clean_events=clean,
        deploy_records=tables.deploy_records,
        config_snapshots=tables.config_snapshots,
        quarantined=quarantined,
        event_results=results,
        commits=commits,
        new_commits=raw.new_commits,
    )


def load_tables(source: Source, horizon: pd.Timedelta, keep_events: bool = True) -> SourceTables:
    """Read every batch of `source` and take it down the one path (what the CLI and bench call; the
    assets run the same steps one asset each); `keep_events` as `validated_tables` has it."""
    world = source.describe()
    raw = source.raw_tables(source.read_batches(list(source.batch_keys())), horizon)  # batches let go
    return validated_tables(world, raw, horizon, keep_events)


def counts(tables: SourceTables) -> dict[str, int]:
    deploys = tables.deploy_records
    ordinary = deploys[~deploys["is_rollback"]]
    labelled = ordinary[ordinary["labelled"]]
    return {
        "commits": tables.commits,
        "deploys": len(deploys),
        "labelled": len(labelled),
        "rolled_back": int(labelled["rolled_back"].astype(bool).sum()),
    }
