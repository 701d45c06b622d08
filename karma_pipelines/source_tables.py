"""Validated deploy tables from any source (event-log world or Git history), for the CLI and assets."""

from __future__ import annotations

import hashlib
import pickle
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from karma_pipelines.records import deploy_tables_from_events
from karma_pipelines.records.validated import validate_deploy_tables
from karma_pipelines.schema import ENVIRONMENTS, KARMA_EVENTS
from karma_pipelines.sources.event_log import read_event_log
from karma_pipelines.validation import standard_parameters, validate_table
from karma_pipelines.world import EARLIEST, open_world

_ENV_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class SourceTables:
    """Validated deploy tables of one source, and what was read to make them."""

    deploy_records: pd.DataFrame
    config_snapshots: pd.DataFrame
    quarantined: pd.DataFrame
    commits: int  # commits (Git) or change requests (event log) read in all
    world_root: Path | None = None  # a simulated world (with ground truth), when there is one
    new_commits: int | None = None  # Git: commits read by this (possibly incremental) call


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


def git_suite_parameters(records: pd.DataFrame) -> dict:
    """Suite parameters for a Git history: its own components, any well-formed environment name,
    and no commit after now."""
    found = records["environment"].dropna().unique() if "environment" in records else []
    envs = sorted({e for e in found if _ENV_NAME.match(e)})
    components = records["component"].dropna().unique() if "component" in records else []
    return standard_parameters(
        components,
        EARLIEST.isoformat(),
        pd.Timestamp.now(tz="UTC").isoformat(),
        environments=sorted(set(envs) | set(ENVIRONMENTS)),
    )


def _state_file(state_dir: Path, repo: Path, layout: str, ref: str | None) -> Path:
    key = hashlib.sha256(f"{Path(repo).resolve()}\0{layout}\0{ref}".encode()).hexdigest()[:16]
    return Path(state_dir) / f"git-{key}.pkl"


def _read_state(path: Path) -> dict:
    return pickle.loads(path.read_bytes()) if path.exists() else {}


def load_git_state(state_dir: Path, repo: Path, layout: str, ref: str | None):
    """The last extraction `git_tables` kept for this repository, layout and ref, or None."""
    return _read_state(_state_file(state_dir, repo, layout, ref)).get("extraction")


def git_tables(
    repo: Path,
    layout: str,
    ref: str | None,
    horizon: pd.Timedelta,
    state_dir: Path | None = None,
) -> SourceTables:
    """Tables from a Git repository's history. With `state_dir`, incremental: the previous extraction
    is kept there and only commits after its last one are read."""
    from karma_pipelines.sources.git import extract_git_history

    state_path = _state_file(state_dir, repo, layout, ref) if state_dir else None
    state = _read_state(state_path) if state_path else {}
    previous = state.get("extraction")
    extraction = extract_git_history(repo, layout=layout, ref=ref, horizon=horizon, previous=previous)
    total = extraction.commits + (0 if extraction.full_reread or previous is None else state["commits"])
    if state_path:
        state_path.parent.mkdir(parents=True, exist_ok=True)
        state_path.write_bytes(pickle.dumps({"extraction": extraction, "commits": total}))
    params = git_suite_parameters(extraction.deploy_records)
    tables = validate_deploy_tables(extraction.deploy_records, extraction.config_snapshots, params)
    quarantined = pd.concat([extraction.quarantined, tables.quarantined], ignore_index=True)
    return SourceTables(
        tables.deploy_records,
        tables.config_snapshots,
        quarantined,
        commits=total,
        new_commits=extraction.commits,
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
