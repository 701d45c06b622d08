"""A Karma world on disk (event log, configs, ground truth) and the runtime facts validation needs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from karma_pipelines.validation import standard_parameters

EARLIEST = pd.Timestamp("2000-01-01", tz="UTC")


@dataclass(frozen=True)
class World:
    root: Path
    start: pd.Timestamp
    end: pd.Timestamp
    components: frozenset[str]
    kind: str = "events"  # "events" (a world folder with an event log) or "git" (a repository)

    @property
    def events_dir(self) -> Path:
        return self.root / "events"

    @property
    def ground_truth_dir(self) -> Path:
        return self.root / "ground_truth"

    def suite_parameters(self) -> dict:
        """Runtime values the Great Expectations suites refer to as `$PARAMETER`s."""
        return standard_parameters(self.components, self.start.isoformat(), self.end.isoformat())


def git_world(repo: Path) -> World:
    """A Git repository as a world: no event log; its components come from its history."""
    return World(
        root=Path(repo), start=EARLIEST, end=pd.Timestamp.now(tz="UTC"), components=frozenset(), kind="git"
    )


def open_world(root: Path, simulate: bool = False, **simulation) -> World:
    """Open a world folder; with `simulate`, write it first when it does not exist yet."""
    root = Path(root)
    if simulate and not (root / "world.json").exists():
        from karma_pipelines.simulator import SimulationConfig, simulate_world

        simulate_world(root, SimulationConfig(**simulation))
    if not (root / "events").is_dir():
        raise FileNotFoundError(f"{root}: no events/ folder (not a Karma world)")
    from karma_pipelines.sources.event_log import read_world_components

    meta = json.loads((root / "world.json").read_text()) if (root / "world.json").exists() else {}
    start = _utc(meta["start"]) if "start" in meta else EARLIEST
    end = _utc(meta["end"]) if "end" in meta else pd.Timestamp.now(tz="UTC")
    return World(root=root, start=start, end=end, components=frozenset(read_world_components(root)))


def _utc(value: str) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
