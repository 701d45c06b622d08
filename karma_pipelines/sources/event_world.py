"""The event-log source: a Karma world folder (`events/*.jsonl`, `configs/`, maybe `ground_truth/`),
read one day file per batch; the simulator writes one on first use."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from karma_pipelines.contracts.schema import KARMA_EVENTS
from karma_pipelines.sources.base import EARLIEST, RawTables, World
from karma_pipelines.sources.event_log import (
    WorldNotFound,
    combine_event_days,
    event_days,
    read_event_files,
    read_world_components,
)
from karma_pipelines.sources.event_stream import stream_event_log
from karma_pipelines.sources.git.parse import load_text
from karma_pipelines.sources.shared_values import SharedValues


@dataclass
class EventLogSource:
    """A world folder (or its `events/` folder). With `simulate`, the simulator writes the world there
    first when it does not exist yet (the default source)."""

    root: Path
    simulate: dict | None = None  # SimulationConfig fields (seed, components, days) for a new world
    kind: str = field(default="events", init=False)
    _shared: SharedValues | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        root = Path(self.root)
        if root.name == "events" and not (root / "events").is_dir() and (root.parent / "world.json").exists():
            root = root.parent
        self.root = root
        if self.simulate is not None:
            self.kind = "simulator"

    def describe(self) -> World:
        if self.simulate is not None and not (self.root / "world.json").exists():
            from karma_pipelines.simulator import SimulationConfig, simulate_world

            simulate_world(self.root, SimulationConfig(**self.simulate))
        if not (self.root / "events").is_dir():
            raise WorldNotFound(f"{self.root}: no events/ folder (not a Karma world)")
        meta_path = self.root / "world.json"
        # The one loader (its budgets); a file that is not JSON is a ValueError naming it.
        meta = load_text(meta_path.read_text(), str(meta_path)) if meta_path.exists() else {}
        truth = self.root / "ground_truth"
        return World(
            kind=self.kind,
            root=self.root,
            start=_utc(meta["start"]) if "start" in meta else EARLIEST,
            end=_utc(meta["end"]) if "end" in meta else pd.Timestamp.now(tz="UTC"),
            components=frozenset(read_world_components(self.root)),
            truth_dir=truth if truth.is_dir() else None,
        )

    def batch_keys(self) -> dict[str, str]:
        events = self.root / "events"
        return {day: _signature(events / f"{day}.jsonl") for day in event_days(events)}

    def read_batches(self, keys: list[str]) -> dict[str, pd.DataFrame]:
        if self._shared is None:  # one for every batch read before `raw_tables` (`shared_values`)
            self._shared = SharedValues()
        files = read_event_files(self.root / "events", days=keys, shared=self._shared)
        return {day: files.get(day, KARMA_EVENTS.empty()) for day in keys}

    def raw_tables(self, batches: dict[str, pd.DataFrame], horizon: pd.Timedelta) -> RawTables:
        """Every line of the batches read (in batch order), re-deliveries marked across files; deploy
        tables are built from the events that pass validation."""
        keys = sorted(batches)
        self._shared = None
        return RawTables(events=combine_event_days([batches[key] for key in keys]), batches=tuple(keys))

    def streamed_raw_tables(self, keys: list[str], horizon: pd.Timedelta) -> RawTables:
        """`raw_tables(read_batches(keys), horizon)` with the lines in chunks, not yet read (re-deliveries
        found first, across every file: `stream_event_log`)."""
        chunks = stream_event_log(self.root / "events", days=keys)
        return RawTables(event_chunks=chunks, batches=tuple(sorted(keys)))


def _signature(path: Path) -> str:
    stat = path.stat() if path.exists() else path.lstat()  # a broken link is quarantined, not fatal
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def _utc(value: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"world.json: {value!r} is not a timestamp") from exc
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
