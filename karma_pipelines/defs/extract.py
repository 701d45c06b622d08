"""Extract: the Karma source, its batches (one partition each) and its raw tables. The same three
assets for every source kind: the `karma_source` resource decides what a batch is."""

import warnings
from collections.abc import Mapping
from typing import Any

import dagster as dg
import pandas as pd

from karma_pipelines.contracts.schema import KARMA_EVENTS
from karma_pipelines.defs.metadata import definition_metadata, markdown_table, table_metadata
from karma_pipelines.defs.previous import (
    IoManager,
    materialized_since,
    previous_materialization,
    previous_value,
)
from karma_pipelines.defs.resources import KarmaSourceResource
from karma_pipelines.sources.base import RawTables, Source, World
from karma_pipelines.sources.event_append import append_event_batches

GROUP = "extract"
META = {"group_name": GROUP, "code_version": "2", "owners": ["team:ml-platform"]}
RECORDS_VERSION = "3"  # source_records' code version: a previous table of another version is rebuilt
karma_source_batches = dg.DynamicPartitionsDefinition(name="karma_source_batches")
# The preview of source_records: where a line came from and its envelope (never `raw` nor `attrs`).
PREVIEW_COLUMNS = ["record_id", "ts", "event_type", "entity_id", "source", "parse_error", "duplicate_of"]


@dg.asset(kinds={"python"}, **META)
def karma_world(context: dg.AssetExecutionContext, karma_source: KarmaSourceResource) -> World:
    """The Karma source to learn from: a simulated world (written on first use, the default), an
    event-log folder or a Git repository; its time range, components and ground truth if any."""
    world = karma_source.source().describe()
    context.add_output_metadata(
        {
            "path": dg.MetadataValue.path(str(world.root.resolve())),
            "kind": world.kind,
            "components": len(world.components),
            "start": world.start.isoformat(),
            "end": world.end.isoformat() if world.end is not None else "now",
            "ground_truth": world.truth_dir is not None,
        }
    )
    return world


# Single-run backfills are what `source_batches` is for; that the parameter is beta in Dagster is not the
# user's concern (it printed a BetaWarning on every import of the code location).
warnings.filterwarnings("ignore", r"Parameter `backfill_policy` of function `asset`", dg.BetaWarning)


@dg.asset(
    kinds={"pandas"},
    partitions_def=karma_source_batches,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[karma_world],
    **META,
)
def source_batches(context: dg.AssetExecutionContext, karma_source: KarmaSourceResource) -> dict:
    """The source's batches, one partition each: an event-log day file (`YYYY-MM-DD`, its lines
    parsed as far as they go) or the commit a Git ref pointed at. A backfill reads its range in one run."""
    keys = list(context.partition_keys)
    batches = karma_source.source().read_batches(keys)
    lines = sum(len(b) for b in batches.values() if isinstance(b, pd.DataFrame))
    context.add_output_metadata({"batches": len(keys), "lines": lines})
    return batches


@dg.asset(
    kinds={"pandas"},
    metadata=definition_metadata(KARMA_EVENTS),
    **{**META, "code_version": RECORDS_VERSION},
)
def source_records(
    context: dg.AssetExecutionContext,
    karma_source: KarmaSourceResource,
    io_manager: IoManager,
    karma_world: World,
    source_batches: Mapping,  # partition -> batch, each read from storage when asked for
) -> RawTables:
    """Every raw row of the batches read so far, nothing dropped: event-log lines (re-deliveries
    marked across files), or for Git the deploys and configs of its history (read incrementally) and
    the files its reader rejected. An event log's new day files are appended to the previous table
    (only their batches are read from storage)."""
    source = karma_source.source()
    raw = _appended(context, io_manager, source, source_batches)
    if raw is None:
        raw = source.raw_tables(source_batches, karma_source.horizon)
    events = raw.events
    by_type = events["event_type"].fillna("<missing>").value_counts().rename_axis("event_type").reset_index()
    context.add_output_metadata(
        {
            **table_metadata(events, KARMA_EVENTS, columns=PREVIEW_COLUMNS),
            "event_lines": len(events),
            "event_files": int(events["source_file"].nunique()),
            "unparseable_lines": int(events["parse_error"].notna().sum()),
            "redelivered_lines": int(events["duplicate_of"].notna().sum()),
            "event_types": markdown_table(by_type),
            "deploy_rows": len(raw.deploy_records) if raw.deploy_records is not None else 0,
            "rejected_rows": len(raw.quarantined),
            **({"commits": raw.commits, "new_commits": raw.new_commits or 0} if raw.commits else {}),
            "appended_rows": len(events) - raw.appended_rows
            if raw.appended_rows is not None
            else len(events),
            "update": "appended" if raw.appended_rows is not None else "rebuilt",
            **_coverage_metadata(context, getattr(source, "coverage", None)),
        }
    )
    return raw


def _appended(
    context: dg.AssetExecutionContext, io_manager: IoManager, source: Source, batches: Mapping[str, Any]
) -> RawTables | None:
    """The previous event table with the batches materialized since appended, or None (rebuild): no
    previous table, a batch read again (its file changed) or gone, or another source kind."""
    if source.kind not in ("events", "simulator"):
        return None
    record = previous_materialization(context.instance, context.asset_key)
    previous = previous_value(context, io_manager, context.asset_key, RECORDS_VERSION)
    if not isinstance(previous, RawTables) or not previous.batches:
        return None
    new = materialized_since(context.instance, dg.AssetKey("source_batches"), record)
    if new & set(previous.batches) or set(batches) != set(previous.batches) | new:
        return None
    return append_event_batches(previous, {key: batches[key] for key in sorted(new)})


def _coverage_metadata(context: dg.AssetExecutionContext, coverage) -> dict:
    """What the Git layouts cover (see sources/git/coverage.py), and a warning in the run's log when
    they leave out files that look like config. Paths only, never a value."""
    if coverage is None:
        return {}
    report = coverage.report()
    warning = coverage.warning()
    if warning:
        context.log.warning(warning)
    per_layout = pd.DataFrame(report["layouts"])
    share = report["covered_share"]
    return {
        "config_commits": report["config_commits"],
        "covered_commits": report["covered_commits"],
        "covered_share": dg.MetadataValue.float(float(share) if share is not None else float("nan")),
        "uncovered_commits": report["uncovered_commits"],
        "left_out_files": report["left_out_files"],
        "left_out_examples": dg.MetadataValue.json(report["left_out_examples"]),
        "layouts": markdown_table(per_layout),
        **({"coverage_warning": warning} if warning else {}),
    }
