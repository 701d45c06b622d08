"""The one path: any source's raw tables to validated, labelled tables and quarantine.

Used by the Dagster assets, every CLI command and the bench alike: events are validated by the
`karma_events` suite, deploy tables are built from the clean events (or taken from a source that
builds them, such as Git), and each is validated by its own suite. Nothing is dropped: every row that
fails is in `quarantined` with its failed expectations as the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial

import pandas as pd

from karma_pipelines.contracts.schema import KARMA_EVENTS, QUARANTINED_RECORDS
from karma_pipelines.memory import release_freed_memory
from karma_pipelines.records import deploy_tables_from_events
from karma_pipelines.records.from_events import deploy_inputs
from karma_pipelines.records.validated import validate_deploy_tables
from karma_pipelines.sources.base import RawTables, Source, StreamingSource, World
from karma_pipelines.sources.event_stream import EventChunks
from karma_pipelines.validation import validate_table
from karma_pipelines.validation.gx_runner import import_gx

Track = Callable[[Iterator], Iterator]


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
    event_lines: int | None = None  # event-log lines read (validated), whether or not they are kept


def validated_tables(
    world: World,
    raw: RawTables,
    horizon: pd.Timedelta,
    keep_events: bool = True,
    track: Track | None = None,
) -> SourceTables:
    """Validate a source's raw tables; build deploy tables from the clean events when the source
    does not build them itself; label every deploy at `horizon`.

    `keep_events=False` (for a caller that reads the deploy tables only): `raw` is consumed, its events
    let go once validated and the clean ones once the deploy tables are built (the tables' `raw_events`
    and `clean_events` are empty), so a large log is not held through the rest. Events given in chunks
    (`raw.event_chunks`) are validated a chunk at a time then, and only their deploy inputs kept;
    `track` wraps the chunks' outcomes as they come (a progress bar over them)."""
    if raw.event_chunks is not None and keep_events:
        raw.events = KARMA_EVENTS.conform(pd.concat([KARMA_EVENTS.empty(), *raw.event_chunks]))
    lines = len(raw.events)
    chunked = raw.event_chunks is not None and not keep_events
    if chunked:  # `clean`: the chunks' deploy inputs
        clean, event_quarantine, results, lines = _validated_chunks(raw.event_chunks, world, track)
    elif len(raw.events):
        events = validate_table(raw.events, KARMA_EVENTS, world.suite_parameters())
        clean, event_quarantine, results = events.clean, events.quarantined, events.results
        del events
    else:
        clean, event_quarantine, results = raw.events, QUARANTINED_RECORDS.empty(), pd.DataFrame()
    raw.event_chunks = None
    if not keep_events:  # the lines' text and every other event go: only what the deploy tables read stays
        raw.events = KARMA_EVENTS.empty()
        clean = clean if chunked else deploy_inputs(clean)
    if raw.deploy_records is None:  # the deploy inputs consumed (emptied) when no one reads them after
        records, snapshots = deploy_tables_from_events(
            clean, horizon=horizon, as_of=world.end, consume=not keep_events
        )
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
        event_lines=lines,
    )


def _validated_chunks(
    chunks: Iterable[pd.DataFrame], world: World, track: Track | None = None
) -> tuple[pd.DataFrame, ...]:
    """The `karma_events` suite over each chunk: the clean deploy inputs, the quarantine and the results
    of all of them, as one run over the whole log gives them (every expectation judges a row alone),
    and the lines read. Each chunk's text is let go before the next is read; the chunks of an event log
    (`EventChunks`) are read and validated in forked workers, one per CPU, and only their outcomes
    come back. `track` wraps the outcomes as they come (a progress bar)."""
    work = partial(_chunk_outcome, parameters=world.suite_parameters())
    if isinstance(chunks, EventChunks):
        import_gx()  # once, before the workers fork, not once in each
        outcomes = chunks.map(work)
    else:
        outcomes = map(work, chunks)
    inputs, quarantined, results, lines = [], [], [], 0
    for read, clean, failed, suite_results in outcomes if track is None else track(outcomes):
        lines += read
        inputs.append(clean)
        quarantined.append(failed)
        results.append(suite_results)
    if not results:
        return deploy_inputs(KARMA_EVENTS.empty()), QUARANTINED_RECORDS.empty(), pd.DataFrame(), 0
    how = {"expectation": "first", "column": "first", "success": "all", "unexpected_count": "sum"}
    results = pd.concat(results).groupby(level=0, sort=True).agg(how)  # by position in the suite
    clean = pd.concat(inputs, ignore_index=True)
    del inputs
    release_freed_memory()  # the chunks' outcomes, unpickled and joined: not inherited by the next forks
    return clean, QUARANTINED_RECORDS.conform(pd.concat(quarantined, ignore_index=True)), results, lines


def _chunk_outcome(chunk: pd.DataFrame, parameters: dict) -> tuple[int, *tuple[pd.DataFrame, ...]]:
    """(lines, clean deploy inputs, quarantined rows, suite results) of one chunk of events."""
    outcome = validate_table(chunk, KARMA_EVENTS, parameters)
    return len(chunk), deploy_inputs(outcome.clean), outcome.quarantined, outcome.results


def load_tables(source: Source, horizon: pd.Timedelta, keep_events: bool = True) -> SourceTables:
    """Read every batch of `source` and take it down the one path (what the CLI and bench call; the
    assets run the same steps one asset each); `keep_events` as `validated_tables` has it."""
    world = source.describe()
    keys = list(source.batch_keys())
    if not keep_events and isinstance(source, StreamingSource):
        return validated_tables(world, source.streamed_raw_tables(keys, horizon), horizon, keep_events)
    raw = source.raw_tables(source.read_batches(keys), horizon)  # batches let go
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
