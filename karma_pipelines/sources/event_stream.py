"""An event log read a few files at a time, re-deliveries marked across all of it: `karma_events` in chunks.

`read_event_log` holds every line of the log at once (its text and decoded values); at a million deploys
that is most of a backtest's memory, though the caller keeps only the deploy events of the clean lines.
`EventChunks` gives the same rows, marks included, as tables of about `chunk_bytes` of files each, so
each can be validated and reduced before the next is read. Every expectation of the `karma_events`
suite judges one row at a time, so chunk by chunk they fail the same rows as one whole-log run.

Re-delivery is the one mark that needs the whole log: a line is a copy when another line, in any file,
has its `idempotency_key`. Before any chunk is read, one pass over the bytes finds each line's key (a
regular expression; the few lines it cannot read for certain, those with a backslash or more than one
`"idempotency_key"`, are decoded) and keeps a 64-bit hash of it. Only the lines whose hash repeats
(every true copy, and a rare collision) are parsed as `read_event_log` parses them, and
`mark_redeliveries` on those alone marks them exactly as on the whole log: it looks at nothing but the
lines that share a key.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd

from karma_pipelines.contracts.config_fields import loads_json
from karma_pipelines.contracts.schema import KARMA_EVENTS
from karma_pipelines.parallel import fork_map
from karma_pipelines.sources.event_log import event_files, read_event_file, unreadable
from karma_pipelines.sources.event_redelivery import mark_redeliveries
from karma_pipelines.sources.event_values import SURROGATE
from karma_pipelines.sources.gc_pause import without_cyclic_gc
from karma_pipelines.sources.shared_values import SharedValues

CHUNK_BYTES = 64 << 20
# Every occurrence of the field name; the value captured when it is a plain string (no escape in it).
_KEY = re.compile(rb'"idempotency_key"(?:[ \t\r]*:[ \t\r]*"([^"\\\n]*)")?')
_MARKS = ("duplicate_of", "conflicts_with")
T = TypeVar("T")


@dataclass
class EventChunks:
    """The `karma_events` rows of `files`, in file order, as one table per group of files; iterate once
    or more (each pass reads the files again). `marks`: record_id -> (duplicate_of, conflicts_with) of
    every re-delivered line of the whole log."""

    groups: list[list[Path]]
    marks: pd.DataFrame
    shared: SharedValues = field(default_factory=SharedValues, repr=False)

    def __len__(self) -> int:
        return len(self.groups)

    def __iter__(self) -> Iterator[pd.DataFrame]:
        for i in range(len(self.groups)):
            table = self.table(i)
            if table is not None:
                yield table

    def table(self, i: int) -> pd.DataFrame | None:
        """The conformed, marked rows of group `i` (None when its files hold no line)."""
        with without_cyclic_gc():
            frames = [read_event_file(path, self.shared) for path in self.groups[i]]
        frames = [f for f in frames if len(f)]
        if not frames:
            return None
        frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        del frames
        return KARMA_EVENTS.conform(self._marked(frame))

    def map(self, work: Callable[[pd.DataFrame], T], workers: int | None = None) -> Iterator[T]:
        """`work(table)` of each table this iterates, in order, each table read and worked on in a
        forked worker (`fork_map`: one per CPU by default), so only the results come back here."""

        def one(i: int) -> tuple[T] | None:
            table = self.table(i)
            return None if table is None else (work(table),)

        for result in fork_map(one, len(self.groups), workers):
            if result is not None:
                yield result[0]

    def _marked(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.marks.empty:
            return frame
        found = self.marks.reindex(frame["record_id"].to_numpy())
        for mark in _MARKS:
            frame[mark] = pd.Series(found[mark].to_numpy(), index=frame.index, dtype=frame[mark].dtype)
        return frame


def stream_event_log(
    events_dir: Path, days: list[str] | None = None, chunk_bytes: int | None = None
) -> EventChunks:
    """The event log of `events_dir` (or its files whose stem is in `days`) as `EventChunks` of about
    `chunk_bytes` (default `CHUNK_BYTES`) of files each."""
    files = event_files(events_dir, days)
    shared = SharedValues()
    groups = _groups(files, CHUNK_BYTES if chunk_bytes is None else chunk_bytes)
    return EventChunks(groups, _redelivery_marks(files, shared), shared)


def _groups(files: list[Path], chunk_bytes: int) -> list[list[Path]]:
    """`files` in order, cut into runs of about `chunk_bytes` (a larger file is a run of its own)."""
    groups: list[list[Path]] = [[]]
    size = 0
    for path in files:
        length = path.stat().st_size if path.is_file() else 0
        if groups[-1] and size + length > chunk_bytes:
            groups.append([])
            size = 0
        groups[-1].append(path)
        size += length
    return [g for g in groups if g]


def _redelivery_marks(files: list[Path], shared: SharedValues) -> pd.DataFrame:
    """record_id -> `duplicate_of`, `conflicts_with` for every line whose key another line repeats."""
    owners, lines, hashes = [], [], []
    for i, (numbers, keyed) in enumerate(fork_map(lambda i: _line_keys(files[i]), len(files))):
        owners.append(np.full(len(numbers), i, dtype=np.int32))
        lines.append(numbers)
        hashes.append(keyed)
    empty = pd.DataFrame({m: pd.Series(dtype="string") for m in _MARKS}, index=pd.Index([], dtype=object))
    if not owners:
        return empty
    owner, line, digest = np.concatenate(owners), np.concatenate(lines), np.concatenate(hashes)
    repeated = pd.Series(digest).duplicated(keep=False).to_numpy()
    if not repeated.any():
        return empty
    frames = []
    with without_cyclic_gc():
        for i in np.unique(owner[repeated]):
            wanted = {int(n) for n in line[repeated & (owner == i)]}
            frames.append(read_event_file(files[i], shared, only=wanted))
    marked = mark_redeliveries(pd.concat(frames, ignore_index=True))
    marked = marked[marked["duplicate_of"].notna() | marked["conflicts_with"].notna()]
    return marked.set_index("record_id")[list(_MARKS)]


def _line_keys(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(line numbers, 64-bit hashes of their `idempotency_key`) of the lines of `path` that may have one
    (a superset: a line whose key is not a string, or is nested in `attrs`, may be in it)."""
    if unreadable(path) is not None:  # one row in its chunk says why
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.uint64)
    data = path.read_bytes().removeprefix(b"\xef\xbb\xbf")
    bytes_ = np.frombuffer(data, dtype=np.uint8)
    breaks = np.flatnonzero(bytes_ == 10)
    found = list(_KEY.finditer(data))
    number = np.searchsorted(breaks, np.array([m.start() for m in found], dtype=np.int64)) + 1
    keys: list[bytes | None] = [m.group(1) for m in found]
    # A line read for certain by the expression has one occurrence of the name and no escape in it.
    unsure = set(np.searchsorted(breaks, np.flatnonzero(bytes_ == 92)) + 1)
    counted = pd.Series(number).value_counts()
    unsure.update(counted.index[counted.to_numpy() > 1])
    unsure.update(n for n, k in zip(number, keys, strict=True) if k is None)
    sure = [(int(n), k) for n, k in zip(number, keys, strict=True) if n not in unsure and k is not None]
    decoded = _decoded_keys(data, sorted(int(n) for n in unsure)) if unsure else []
    pairs = sure + decoded
    numbers = np.array([n for n, _ in pairs], dtype=np.int64)
    texts = np.array([k for _, k in pairs], dtype=object)
    return numbers, key_hashes(texts)


def key_hashes(keys: np.ndarray) -> np.ndarray:
    """64-bit hashes of keys (UTF-8 bytes): equal keys hash equal; a collision only parses more lines."""
    return pd.util.hash_array(keys) if len(keys) else np.empty(0, dtype=np.uint64)


def _decoded_keys(data: bytes, numbers: list[int]) -> list[tuple[int, bytes]]:
    """(line number, key as UTF-8) of those lines that decode to an object with a string key."""
    lines = data.split(b"\n")
    out = []
    for n in numbers:
        if n > len(lines):
            continue
        try:
            obj = loads_json(lines[n - 1].decode("utf-8").removesuffix("\r"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            continue
        key = obj.get("idempotency_key") if isinstance(obj, dict) else None
        if isinstance(key, str):
            out.append((n, SURROGATE.sub("\ufffd", key).encode("utf-8")))  # as `read_event_file` fixes it
    return out
