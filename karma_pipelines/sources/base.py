"""The source protocol: what every Karma source (event log, Git history, later ones) gives the one path.

A source is read in **batches** (an event-log day file; the commit a Git ref points at): the batch keys
are the Dagster partitions, and their signatures are what the sensor watches. `read_batches` returns
each batch's raw payload; `raw_tables` turns the batches read so far into the source's raw, unvalidated
tables. `karma_pipelines.pipeline.tables` takes those to validated, labelled tables and quarantine.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pandas as pd

from karma_pipelines.contracts.schema import ENVIRONMENTS, KARMA_EVENTS, QUARANTINED_RECORDS
from karma_pipelines.validation import standard_parameters

EARLIEST = pd.Timestamp("2000-01-01", tz="UTC")
_ENV_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class World:
    """What a source is: where it lives, the time it covers, its components and, for a simulated
    world, where its ground truth is. `components` empty: the source names them itself (Git)."""

    kind: str
    root: Path
    start: pd.Timestamp = EARLIEST
    end: pd.Timestamp | None = None
    components: frozenset[str] = frozenset()
    truth_dir: Path | None = None

    def suite_parameters(self, records: pd.DataFrame | None = None) -> dict:
        """Runtime values the Great Expectations suites refer to as `$PARAMETER`s. Without a known
        component set (a Git history), the records' own components and well-formed environments."""
        end = (self.end or pd.Timestamp.now(tz="UTC")).isoformat()
        if self.components or records is None:
            return standard_parameters(self.components, self.start.isoformat(), end)
        found = records["environment"].dropna().unique() if "environment" in records else []
        envs = {e for e in found if isinstance(e, str) and _ENV_NAME.match(e)}
        components = records["component"].dropna().unique() if "component" in records else []
        return standard_parameters(
            components, self.start.isoformat(), end, environments=sorted(envs | set(ENVIRONMENTS))
        )


@dataclass
class RawTables:
    """A source's raw tables: event-log lines (empty for a source without one) or deploy tables the
    source builds itself (None when they come from the events), and what its reader rejected."""

    events: pd.DataFrame = field(default_factory=KARMA_EVENTS.empty)
    deploy_records: pd.DataFrame | None = None
    config_snapshots: pd.DataFrame | None = None
    quarantined: pd.DataFrame = field(default_factory=QUARANTINED_RECORDS.empty)
    commits: int | None = None  # commits read in all (Git); None: count the change requests
    new_commits: int | None = None  # commits read by this (possibly incremental) call
    # Event rows carried over unchanged from an earlier table, the new batches' rows after them (None:
    # built from every batch; see sources/event_append.py).
    appended_rows: int | None = None
    batches: tuple[str, ...] = ()  # the batch keys read, in batch order (when the source says)
    # The event-log lines a few files at a time instead of `events` (`sources/event_stream.py`): what
    # `validated_tables` reads when the caller keeps no events, so the whole log is never held at once.
    event_chunks: Iterable[pd.DataFrame] | None = None


@runtime_checkable
class Source(Protocol):
    """A Karma source. Implementations: `EventLogSource`, `GitSource` (see `open_source`)."""

    kind: str

    def describe(self) -> World: ...

    def batch_keys(self) -> dict[str, str]:
        """Batch key -> signature (changes when the batch's content does), in source order."""
        ...

    def read_batches(self, keys: list[str]) -> dict[str, Any]: ...

    def raw_tables(self, batches: dict[str, Any], horizon: pd.Timedelta) -> RawTables: ...


@runtime_checkable
class StreamingSource(Source, Protocol):
    """A source that can also give its raw tables without reading every batch first: the event lines
    in chunks (`RawTables.event_chunks`), for a caller that keeps no events (`load_tables`)."""

    def streamed_raw_tables(self, keys: list[str], horizon: pd.Timedelta) -> RawTables: ...
