"""Backtest the rollback forecaster on a source: extract, validate, build features, train on the
past, evaluate on the future. The engine behind `karma-pipelines backtest`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from karma_pipelines.features import build_rollback_features
from karma_pipelines.records import deploy_tables_from_events
from karma_pipelines.records.validated import validate_deploy_tables
from karma_pipelines.schema import KARMA_EVENTS
from karma_pipelines.sources.event_log import read_event_log
from karma_pipelines.training.rollback_forecaster import ForecasterRun, train_forecaster
from karma_pipelines.training.spec import ModelSpec, load_spec
from karma_pipelines.validation import validate_table
from karma_pipelines.world import open_world

METRIC_KEYS = ("roc_auc", "pr_auc", "brier", "capture_at_5", "capture_at_10", "capture_at_50")
_DURATION = re.compile(r"^(?P<n>\d+(\.\d+)?)\s*(?P<unit>[hdw])$")


def parse_horizon(text: str) -> pd.Timedelta:
    """`7d`, `36h`, `2w` → a Timedelta; anything else is a ValueError naming the value."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"--horizon {text!r}: expected a number and a unit h, d or w (e.g. 7d)")
    hours = {"h": 1, "d": 24, "w": 168}[match["unit"]] * float(match["n"])
    return pd.Timedelta(hours=hours)


@dataclass(frozen=True)
class SourceTables:
    """Validated deploy tables of one source, and what was read to make them."""

    deploy_records: pd.DataFrame
    config_snapshots: pd.DataFrame
    quarantined: pd.DataFrame
    commits: int  # commits (Git) or change requests (event log) read
    world_root: Path | None = None


def event_world_tables(path: Path, horizon: pd.Timedelta) -> SourceTables:
    """Tables from a world folder written by `karma-pipelines simulate` (or its events/ folder)."""
    path = Path(path)
    root = path.parent if path.name == "events" and not (path / "events").is_dir() else path
    world = open_world(root)
    events = validate_table(read_event_log(world.events_dir), KARMA_EVENTS, world.suite_parameters())
    records, snapshots = deploy_tables_from_events(events.clean, horizon=horizon, as_of=world.end)
    tables = validate_deploy_tables(records, snapshots, world.suite_parameters())
    quarantined = pd.concat([events.quarantined, tables.quarantined], ignore_index=True)
    return SourceTables(
        tables.deploy_records,
        tables.config_snapshots,
        quarantined,
        commits=int(tables.deploy_records["change_id"].nunique()),
        world_root=root,
    )


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


def run_backtest(
    tables: SourceTables, split_date: str | None = None, spec: ModelSpec | None = None
) -> ForecasterRun:
    """Train before the split date (default: the last 20% of time is the test period) and test after."""
    spec = spec or load_spec("rollback_forecaster")
    split_at = pd.Timestamp(split_date, tz="UTC") if split_date else None
    features = build_rollback_features(tables.deploy_records, tables.config_snapshots)
    return train_forecaster(features, spec, split_at=split_at)


def predictions_table(run: ForecasterRun, deploys: pd.DataFrame) -> pd.DataFrame:
    """deploy_id, commit, component, deployed_at, label, score: one row per test-period deploy."""
    commit = deploys.set_index("deploy_id")["change_id"]
    out = run.predictions.assign(commit=run.predictions["deploy_id"].map(commit))
    return out[["deploy_id", "commit", "component", "deployed_at", "label", "score"]]


def report(tables: SourceTables, run: ForecasterRun) -> dict:
    """The JSON shape of `backtest --json`."""
    return {
        "counts": counts(tables),
        "model": {k: run.metrics[k] for k in METRIC_KEYS},
        "split_at": run.split.split_at.isoformat(),
        "test_deploys": int(run.metrics["n"]),
        "test_base_rate": run.metrics["base_rate"],
    }
