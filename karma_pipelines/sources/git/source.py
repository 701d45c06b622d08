"""The Git source: a repository of component configs, one batch per commit its ref pointed at, read
incrementally (the extraction is kept in `state_dir`, so a later batch reads only new commits)."""

from __future__ import annotations

import hashlib
import logging
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from karma_pipelines.sources.base import RawTables, World
from karma_pipelines.sources.git.coverage import Coverage
from karma_pipelines.sources.git.extract import GitExtraction, extract_git_history
from karma_pipelines.sources.git.layout import DEFAULT_LAYOUT, Layouts
from karma_pipelines.sources.git.log import find_git_dir, resolve_ref

log = logging.getLogger(__name__)


@dataclass
class GitSource:
    """A Git history. `ref` is followed (default HEAD); `layout` is one pattern, several (a list,
    or `;` between them: the first that matches a path wins) or `Layouts`; `state_dir` keeps the
    last extraction per repository and layouts (all of them, in order; not per ref: `score` finds
    what `run REF=main` read); `persist` false reads the state without writing it (scoring a commit
    that is not deployed)."""

    repo: Path
    layout: str | list[str] | tuple[str, ...] | Layouts = DEFAULT_LAYOUT
    ref: str | None = None
    state_dir: Path | None = None
    persist: bool = True
    as_of: pd.Timestamp | None = None  # labels as of this time (default: the newest commit's)
    kind: str = field(default="git", init=False)
    _kept: dict | None = field(default=None, init=False, repr=False)
    # What the layouts cover of the history read by the last `raw_tables` (see coverage.py).
    coverage: Coverage | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.repo = Path(self.repo)
        self.layouts = Layouts.of(self.layout)
        find_git_dir(self.repo)  # a clear error now for a path that is not a repository

    def describe(self) -> World:
        return World(kind=self.kind, root=self.repo, end=pd.Timestamp.now(tz="UTC"))

    def batch_keys(self) -> dict[str, str]:
        head = resolve_ref(self.repo, self.ref)
        return {head: head}

    def read_batches(self, keys: list[str]) -> dict[str, str]:
        return {key: resolve_ref(self.repo, key) for key in keys}

    def raw_tables(self, batches: dict[str, str], horizon: pd.Timedelta) -> RawTables:
        """The history up to the last batch's commit, extending the kept extraction when it can."""
        if not batches:
            raise ValueError(f"{self.repo}: no commit to read (no batch was materialized)")
        tip = list(batches.values())[-1]
        state = self._read_state()
        previous = state.get("extraction")
        extraction = extract_git_history(
            self.repo, layout=self.layouts, ref=tip, horizon=horizon, as_of=self.as_of, previous=previous
        )
        self.coverage = extraction.state.coverage if extraction.state else None
        if previous is None or extraction.full_reread:
            total = extraction.commits
        else:
            total = extraction.commits + state["commits"]
        if self.persist and self.state_dir is not None:
            path = self._state_file()
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(pickle.dumps({"extraction": extraction, "commits": total}))
            tmp.replace(path)  # atomic: a killed run leaves the previous state, never half a file
        return RawTables(
            deploy_records=extraction.deploy_records,
            config_snapshots=extraction.config_snapshots,
            quarantined=extraction.quarantined,
            commits=total,
            new_commits=extraction.commits,
        )

    def kept_extraction(self) -> GitExtraction | None:
        """The extraction the pipeline last kept for this repository and layout, if any."""
        return self._read_state().get("extraction")

    def _state_file(self) -> Path:
        key = hashlib.sha256(f"{self.repo.resolve()}\0{self.layouts.key}".encode()).hexdigest()[:16]
        return Path(self.state_dir) / f"git-{key}.pkl"

    def _read_state(self) -> dict:
        if self.state_dir is None:
            return {}
        if not self.persist and self._kept is not None:
            return self._kept  # a read-only source (a warm scorer) loads the kept state once
        path = self._state_file()
        try:
            self._kept = pickle.loads(path.read_bytes()) if path.exists() else {}
        except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError) as exc:
            log.warning("%s: unreadable Git state (%s): the history is read again", path, exc)
            self._kept = {}
        return self._kept
