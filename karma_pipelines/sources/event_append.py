"""An event log's raw table extended by new day files, equal to combining every file again.

The new files' lines go after the earlier ones (file order); re-deliveries are marked across all of
them as `combine_event_days` does. When a new line re-delivers an earlier one with other content, the
earlier line's mark changes: the table is still the same as a rebuild, but it says so
(`appended_rows` None), so validation validates everything again instead of only the new lines."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from karma_pipelines.contracts.schema import KARMA_EVENTS
from karma_pipelines.sources.base import RawTables
from karma_pipelines.sources.event_redelivery import mark_redeliveries

MARKS = ["duplicate_of", "conflicts_with"]


def append_event_batches(previous: RawTables, batches: dict[str, pd.DataFrame]) -> RawTables | None:
    """`previous` (an event log's raw table of `previous.batches`) extended by `batches` (new batch key
    -> its lines), or None when that is no append: a new batch sorts before an earlier one, or the
    previous table is not an event log's."""
    if previous.deploy_records is not None or not previous.batches:
        return None
    keys = sorted(batches)
    if not keys:  # nothing new: the same table
        return replace(previous, appended_rows=len(previous.events))
    if set(keys) & set(previous.batches) or keys[0] <= max(previous.batches):
        return None
    old = previous.events
    frames = [old, *(batches[k] for k in keys if len(batches[k]))]
    combined = pd.concat(frames, ignore_index=True) if len(frames) > 1 else old
    events = KARMA_EVENTS.conform(mark_redeliveries(combined))
    marks_kept = all(_same(events[column].iloc[: len(old)], old[column]) for column in MARKS if column in old)
    return RawTables(
        events=events,
        quarantined=previous.quarantined,
        commits=previous.commits,
        appended_rows=len(old) if marks_kept else None,
        batches=(*previous.batches, *keys),
    )


def _same(a: pd.Series, b: pd.Series) -> bool:
    a, b = a.reset_index(drop=True), b.reset_index(drop=True)
    return bool(((a == b).fillna(False) | (a.isna() & b.isna())).all())
