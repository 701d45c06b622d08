"""`deploy_records`, `config_snapshots` and quarantine from a Git history of component configs.

Every first-parent commit that changes a component's parsed config is a deploy of it (a commit
that only touches comments or formatting is not: the published config is the same). Conventions:
- `deployed_at` is the committer time (when the change landed on the branch), in UTC;
- `author` is the commit author's e-mail (with `.mailmap` applied; the name when there is no
  e-mail): names are spelled differently on different machines, e-mails identify people;
- `lines_added`/`lines_removed` are git's own `--numstat` counts of the component's files in that
  commit, summed (a binary file counts 0);
- one file's document is the config; a layout with a wildcard in the component's part (`*.yaml`)
  keys the config by file name (its path below the component's folder) even when one file is
  there, so that adding a second values file does not rewrite every field path (a layout without
  one gets the same keys only if several files ever match one component, through a leading `**`);
- the same `<type>/<nickname>` in two environments is two components; when one commit changes
  both, their deploy ids get an `@<env>` suffix so that ids stay unique;
- rollbacks: see `reverts.py`. A rollback deploy's action is `rollback`.

The pass over the commits is `run.py`; the states and tables it keeps are `state.py`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from itertools import chain
from pathlib import Path

import pandas as pd

from karma_pipelines.records.labels import DEFAULT_HORIZON
from karma_pipelines.sources.git.layout import DEFAULT_LAYOUT, Layout, Layouts
from karma_pipelines.sources.git.log import find_git_dir, resolve_commit
from karma_pipelines.sources.git.parse import DEFAULT_MAX_FILE_BYTES
from karma_pipelines.sources.git.run import Run

# Kept importable from here: states pickled before `state.py` existed name this module.
from karma_pipelines.sources.git.state import ComponentState, FileState, GitExtraction, GitState

__all__ = ["ComponentState", "FileState", "GitExtraction", "GitState", "extract_git_history"]

log = logging.getLogger(__name__)


def extract_git_history(
    repo: Path | str,
    layout: str | Sequence[str] | Layout | Layouts = DEFAULT_LAYOUT,
    ref: str | None = None,
    horizon: pd.Timedelta = DEFAULT_HORIZON,
    as_of: pd.Timestamp | str | None = None,
    since: str | None = None,
    previous: GitExtraction | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> GitExtraction:
    """Deploys, config snapshots and quarantined files from the first-parent history of `ref`.

    Incremental: with `previous` (and `since`, which must be `previous.last_commit`, the default),
    only commits after it are read, its state carries over and every deploy is relabelled. When
    `since` is no longer on the branch (history rewritten), the whole history is read again and
    `full_reread` is set. Labels use `as_of` (default: the newest commit's time). `layout`: one
    pattern, several (a sequence, or one string with `;` between them: the first that matches a
    path names its component), or `Layouts`.
    """
    compiled = Layouts.of(layout)
    layout = compiled.key
    git_dir = find_git_dir(Path(repo))
    ref_name = ref or "HEAD"
    tip = resolve_commit(git_dir, ref_name)
    if tip is None:
        raise ValueError(f"ref {ref_name!r} does not name a commit in {Path(repo)}")
    if since is not None and previous is None:
        raise ValueError("since= needs previous= (the extraction that ended at that commit)")

    base, since_sha, reason = _incremental_base(git_dir, previous, since, layout, max_file_bytes)
    run = Run(compiled, git_dir, max_file_bytes, base.state if base else None)
    commits = run.read_log(tip, since_sha)
    first = next(commits, None)  # the log up to its first commit that changes a config
    if base is not None:
        if run.total and run.first_parent != since_sha:
            reason = f"{since_sha[:12]} is no longer on the first-parent history of {ref_name}"
        elif not run.total and tip != since_sha:
            reason = f"{ref_name} moved back from {since_sha[:12]} to {tip[:12]}"
        if reason is not None:
            commits.close()
            base, run = None, Run(compiled, git_dir, max_file_bytes, None)
            commits = run.read_log(tip, None)
            first = next(commits, None)
    if reason is not None:
        log.warning("git history of %s: full re-read (%s)", Path(repo), reason)
    if base is None and first is None:
        raise ValueError(f"layout {layout!r} matches no file in the history of {ref_name} in {Path(repo)}")
    # read and processed together: git finds the next commits while Python processes these
    shallow = base is None and _is_shallow(git_dir)
    run.process(chain([first], commits) if first is not None else (), shallow=shallow)
    if run.baseline is not None:  # the clone's boundary: history before it is missing, not empty
        log.warning(
            "git history of %s is a shallow clone: it starts at %s, whose configs are the starting "
            "state (no deploys); fetch the full history (git fetch --unshallow) for more",
            Path(repo),
            run.baseline[:12],
        )
    total, last_time = run.total, run.last_time
    tip_time = last_time if total else base.state.tip_time
    as_of = _as_timestamp(as_of) or pd.Timestamp(tip_time, unit="s", tz="UTC")
    extraction = run.frames(base, run.state(layout, tip, tip_time), total, horizon, as_of)
    extraction.full_reread = reason is not None
    return extraction


def _is_shallow(git_dir: Path) -> bool:
    return (Path(git_dir) / "shallow").is_file()


def _incremental_base(
    git_dir: Path, previous: GitExtraction | None, since: str | None, layout: str, max_file_bytes: int
) -> tuple[GitExtraction | None, str | None, str | None]:
    """(previous extraction to extend, its last commit, why a full re-read is needed instead)."""
    if previous is None:
        return None, None, None
    state = previous.state
    if state is None:
        return None, None, "the previous extraction carries no state"
    if state.layout != layout or state.max_file_bytes != max_file_bytes:
        return None, None, "the layout or the size limit changed"
    since_sha = resolve_commit(git_dir, since or state.tip)
    if since_sha is None:
        return None, None, f"commit {since or state.tip} is gone"
    if since_sha != state.tip:
        raise ValueError(f"since={since!r} is not the previous extraction's last commit {state.tip}")
    return previous, since_sha, None


def _as_timestamp(value: pd.Timestamp | str | None) -> pd.Timestamp | None:
    if value is None:
        return None
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
