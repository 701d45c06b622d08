"""`deploy_records`, `config_snapshots` and quarantine from a Git history of component configs.

Every first-parent commit that changes a component's parsed config is a deploy of it (a commit
that only touches comments or formatting is not: the published config is the same). Conventions:
- `deployed_at` is the committer time (when the change landed on the branch), in UTC;
- `author` is the commit author's e-mail (with `.mailmap` applied; the name when there is no
  e-mail): names are spelled differently on different machines, e-mails identify people;
- `lines_added`/`lines_removed` count the component's files' own lines, as `git --numstat` does
  (binary, symlink and oversized files count 0);
- one file's document is the config; a layout with a wildcard in the component's part (`*.yaml`)
  keys the config by file name (its path below the component's folder) even when one file is
  there, so that adding a second values file does not rewrite every field path (a layout without
  one gets the same keys only if several files ever match one component, through a leading `**`);
- the same `<type>/<nickname>` in two environments is two components; when one commit changes
  both, their deploy ids get an `@<env>` suffix so that ids stay unique;
- rollbacks: see `reverts.py`. A rollback deploy's action is `rollback`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from karma_pipelines.config_fields import flatten
from karma_pipelines.records.from_events import snapshot_row
from karma_pipelines.records.labels import DEFAULT_HORIZON, apply_rollback_labels
from karma_pipelines.schema import CONFIG_SNAPSHOTS, DEPLOY_RECORDS, QUARANTINED_RECORDS
from karma_pipelines.sources.git.layout import DEFAULT_LAYOUT, ConfigFile, Layout
from karma_pipelines.sources.git.log import (
    Change,
    Commit,
    find_git_dir,
    read_blobs,
    read_commits,
    resolve_commit,
)
from karma_pipelines.sources.git.numstat import count_changed_lines, split_lines
from karma_pipelines.sources.git.parse import SYMLINK_MODE, Parsed, is_binary, parse_config
from karma_pipelines.sources.git.reverts import DeployHistory, DeployRef, reverted_shas

log = logging.getLogger(__name__)

DEFAULT_MAX_FILE_BYTES = 1 << 20
QUARANTINE_TABLE = "git_files"
REAPPLIED_COLUMNS = {"deploy_id": "string", "reapplied_by": "string"}
EVIDENCE_COLUMNS = {"deploy_id": "string", "rolls_back": "string", "evidence": "string"}


@dataclass
class FileState:
    """One config file as of the last commit read."""

    file_key: str
    mode: str
    blob: str
    parsed: Parsed
    lines: list[bytes] | None  # None for content that git's numstat would not count (binary, …)


@dataclass
class ComponentState:
    environment: str
    component_type: str
    nickname: str
    files: dict[str, FileState] = field(default_factory=dict)
    config: Any = None  # the last deployed config; None while the component does not exist
    content_key: str | None = None  # `content_key(config)`
    history: DeployHistory = field(default_factory=DeployHistory)

    @property
    def component(self) -> str:
        return f"{self.component_type}/{self.nickname}"


@dataclass
class GitState:
    """What an incremental run carries over: every component's files, config and deploy history."""

    layout: str
    max_file_bytes: int
    tip: str
    tip_time: int
    components: dict[tuple[str, str], ComponentState] = field(default_factory=dict)


@dataclass(eq=False)
class GitExtraction:
    deploy_records: pd.DataFrame  # conforms to DEPLOY_RECORDS
    config_snapshots: pd.DataFrame  # conforms to CONFIG_SNAPSHOTS
    quarantined: pd.DataFrame  # conforms to QUARANTINED_RECORDS
    reapplied: pd.DataFrame  # deploy_id, reapplied_by (deploy id): a revert of its revert
    last_commit: str | None  # newest commit read (pass as `since=` next time)
    commits: int  # commits read in this call
    full_reread: bool = False  # an incremental call had to read the whole history again
    rollback_evidence: pd.DataFrame | None = None  # deploy_id, rolls_back, evidence (see reverts.py)
    state: GitState | None = field(default=None, repr=False)


def extract_git_history(
    repo: Path | str,
    layout: str = DEFAULT_LAYOUT,
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
    `full_reread` is set. Labels use `as_of` (default: the newest commit's time).
    """
    compiled = Layout(layout)
    git_dir = find_git_dir(Path(repo))
    ref_name = ref or "HEAD"
    tip = resolve_commit(git_dir, ref_name)
    if tip is None:
        raise ValueError(f"ref {ref_name!r} does not name a commit in {Path(repo)}")
    if since is not None and previous is None:
        raise ValueError("since= needs previous= (the extraction that ended at that commit)")

    base, since_sha, reason = _incremental_base(git_dir, previous, since, layout, max_file_bytes)
    run = _Run(compiled, git_dir, max_file_bytes, base.state if base else None)
    commits, total, first_parent, last_time = run.read_log(tip, since_sha)
    if base is not None:
        if total and first_parent != since_sha:
            reason = f"{since_sha[:12]} is no longer on the first-parent history of {ref_name}"
        elif not total and tip != since_sha:
            reason = f"{ref_name} moved back from {since_sha[:12]} to {tip[:12]}"
        if reason is not None:
            base, run = None, _Run(compiled, git_dir, max_file_bytes, None)
            commits, total, _, last_time = run.read_log(tip, None)
    if reason is not None:
        log.warning("git history of %s: full re-read (%s)", Path(repo), reason)
    if base is None and not run.matched_any:
        raise ValueError(f"layout {layout!r} matches no file in the history of {ref_name} in {Path(repo)}")

    run.process(commits)
    tip_time = last_time if total else base.state.tip_time
    as_of = _as_timestamp(as_of) or pd.Timestamp(tip_time, unit="s", tz="UTC")
    extraction = run.frames(base, run.state(layout, tip, tip_time), total, horizon, as_of)
    extraction.full_reread = reason is not None
    return extraction


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


class _Run:
    """One pass over a range of commits: file states in, table rows out."""

    def __init__(self, layout: Layout, git_dir: Path, max_file_bytes: int, state: GitState | None):
        self.layout = layout
        self.git_dir = git_dir
        self.max_file_bytes = max_file_bytes
        # Never mutate the previous extraction's state: calling twice must give the same result.
        # A private copy (the previous extraction must not change); a pickle round trip is several
        # times faster than copy.deepcopy on these plain nested dicts.
        copied = pickle.dumps(state.components, pickle.HIGHEST_PROTOCOL) if state else None
        self.components = pickle.loads(copied) if copied else {}
        self.matches: dict[str, ConfigFile | None] = {}
        self.matched_any = False
        self.deploys: list[dict] = []
        self.snapshots: list[dict] = []
        self.quarantine: list[dict] = []
        self.reapplied: list[dict] = []
        self.evidence: list[dict] = []

    def _match(self, path: str) -> ConfigFile | None:
        if path not in self.matches:
            self.matches[path] = self.layout.match(path)
        return self.matches[path]

    def _keep(self, path: str) -> bool:
        return self._match(path) is not None

    def read_log(self, tip: str, since: str | None) -> tuple[list[Commit], int, str | None, int]:
        """(commits that change a config, commits read, first parent of the oldest, newest time)."""
        kept: list[Commit] = []
        total, first_parent, last_time = 0, None, 0
        for commit in read_commits(self.git_dir, tip, since, self._keep):
            if total == 0:
                first_parent = commit.parents[0] if commit.parents else None
            total += 1
            last_time = commit.time
            if commit.changes:
                commit.reverts = tuple(reverted_shas(commit.message))
                commit.message = ""  # all that is needed of it is in `reverts`
                kept.append(commit)
        self.matched_any = bool(kept)
        return kept, total, first_parent, last_time

    def process(self, commits: list[Commit]) -> None:
        plan = [c.new_blob for commit in commits for c in commit.changes if c.new_mode.startswith("100")]
        blobs = read_blobs(self.git_dir, plan, self.max_file_bytes)
        for commit in commits:
            lines: dict[tuple[str, str], list[int]] = {}
            for change in commit.changes:
                config_file = self._match(change.path)
                key = config_file.identity
                comp = self.components.get(key)
                if comp is None:
                    comp = self.components[key] = ComponentState(
                        config_file.environment, config_file.component_type, config_file.nickname
                    )
                old = comp.files.pop(change.path, None)
                new = None
                if change.new_mode != "000000":
                    new = self._load(commit, change, config_file, blobs)
                    comp.files[change.path] = new
                added, removed = _line_counts(old, new)
                counts = lines.setdefault(key, [0, 0])
                counts[0] += added
                counts[1] += removed
            self._deploy(commit, lines)
        for _ in blobs:  # every planned blob has been read; this closes the process
            raise AssertionError("more blobs read than planned")

    def _load(self, commit: Commit, change: Change, config_file: ConfigFile, blobs) -> FileState:
        path, mode = change.path, change.new_mode

        def bad(reason: str, size: int | None = None, lines: list[bytes] | None = None) -> FileState:
            self._quarantine(commit, change, config_file, reason, size)
            return FileState(config_file.file_key, mode, change.new_blob, Parsed(reason=reason), lines)

        if not mode.startswith("100"):
            kind = "symlink" if mode == SYMLINK_MODE else "not_a_file"
            return bad(f"{kind}({path})")
        blob = next(blobs)
        if blob.sha != change.new_blob:
            raise AssertionError(f"blob stream out of step at {blob.sha} (wanted {change.new_blob})")
        if blob.size < 0:
            return bad(f"missing({path}): blob {blob.sha} is not in the repository")
        if blob.data is None:
            return bad(f"oversized({path}): {blob.size} bytes > {self.max_file_bytes}", blob.size)
        if is_binary(blob.data):
            return bad(f"binary({path})", blob.size)
        lines = split_lines(blob.data)
        parsed = parse_config(path, blob.data)
        if not parsed.ok:
            return bad(parsed.reason, blob.size, lines)
        return FileState(config_file.file_key, mode, change.new_blob, parsed, lines)

    def _quarantine(
        self, commit: Commit, change: Change, config_file: ConfigFile, reason: str, size: int | None
    ) -> None:
        record_id = f"{commit.sha}:{change.path}"
        record = {
            "commit": commit.sha,
            "committed_at": pd.Timestamp(commit.time, unit="s", tz="UTC").isoformat(),
            "author": commit.author_email or commit.author_name,
            "path": change.path,
            "mode": change.new_mode,
            "blob": change.new_blob,
            "size": size,
            "component": config_file.component,
            "environment": config_file.environment,
        }
        self.quarantine.append(
            {
                "quarantine_id": f"{QUARANTINE_TABLE}:{record_id}",
                "table": QUARANTINE_TABLE,
                "record_id": record_id,
                "reasons": reason,
                "n_reasons": 1,
                "record": json.dumps(record, sort_keys=True),
            }
        )

    def _deploy(self, commit: Commit, lines: dict[tuple[str, str], list[int]]) -> None:
        """One deploy per component whose config this commit changed."""
        changed: list[tuple[tuple[str, str], Any, str | None]] = []
        for key in sorted(lines):
            comp = self.components[key]
            if comp.files:
                docs = {f.file_key: f.parsed.doc for _, f in sorted(comp.files.items()) if f.parsed.ok}
                if not docs:
                    continue  # nothing parsed: the config is unknown, so no deploy
                config = self._merge(comp, docs)
                new_hash = content_key(config)
            else:
                config, new_hash = None, None
            if new_hash == comp.content_key:
                continue  # same config (or absent before and after)
            changed.append((key, config, new_hash))
        if not changed:
            return
        per_key = Counter(self.components[key].component for key, _, _ in changed)
        ts = pd.Timestamp(commit.time, unit="s", tz="UTC")
        for key, config, new_hash in changed:
            comp = self.components[key]
            suffix = f"@{comp.environment}" if per_key[comp.component] > 1 else ""
            deploy_id = f"{commit.sha}:{comp.component}{suffix}"
            undone = comp.history.undone_by(commit.reverts, commit.subject, new_hash)
            if comp.config is None:
                action = "create"
            elif config is None:
                action = "delete"
            else:
                action = "update"
            rolls_back = None
            if undone is not None:
                target, evidence = undone
                action, rolls_back = "rollback", target.deploy_id
                self.evidence.append({"deploy_id": deploy_id, "rolls_back": rolls_back, "evidence": evidence})
                if target.is_rollback and target.rolls_back is not None:
                    self.reapplied.append({"deploy_id": target.rolls_back, "reapplied_by": deploy_id})
            fields_added, fields_removed, fields_changed = field_changes(comp.config, config)
            added, removed = lines[key]
            self.deploys.append(
                {
                    "deploy_id": deploy_id,
                    "deployed_at": ts,
                    "component": comp.component,
                    "component_type": comp.component_type,
                    "nickname": comp.nickname,
                    "environment": comp.environment,
                    "author": commit.author_email or commit.author_name,
                    "action": action,
                    "source": "git",
                    "change_id": commit.sha,
                    "message": commit.subject,
                    "fields_added": fields_added,
                    "fields_removed": fields_removed,
                    "fields_changed": fields_changed,
                    "n_fields_added": len(fields_added),
                    "n_fields_removed": len(fields_removed),
                    "n_fields_changed": len(fields_changed),
                    "lines_added": added,
                    "lines_removed": removed,
                    "outcome": "succeeded",
                    "is_rollback": undone is not None,
                    "rolls_back": rolls_back,
                }
            )
            self.snapshots.append(
                snapshot_row(deploy_id, ts, comp.component, comp.environment, config if config else {})
            )
            ref = DeployRef(deploy_id, commit.sha, commit.subject, undone is not None, rolls_back)
            comp.history.add(ref, pre_hash=comp.content_key)
            comp.config, comp.content_key = config, new_hash

    def _merge(self, comp: ComponentState, docs: dict[str, Any]) -> Any:
        if not self.layout.multi_file and len(comp.files) == 1:
            return next(iter(docs.values()))
        if len(docs) < sum(f.parsed.ok for f in comp.files.values()):
            # Two files with the same key (a leading `**`): key by the full path instead.
            return {path: f.parsed.doc for path, f in sorted(comp.files.items()) if f.parsed.ok}
        return docs

    def state(self, layout: str, tip: str, tip_time: int) -> GitState:
        return GitState(layout, self.max_file_bytes, tip, tip_time, self.components)

    def frames(
        self, base: GitExtraction | None, state: GitState, commits: int, horizon, as_of: pd.Timestamp
    ) -> GitExtraction:
        deploys = pd.DataFrame(self.deploys, columns=[c for c in DEPLOY_RECORDS.names if c in _ROW_COLUMNS])
        snapshots = pd.DataFrame(self.snapshots, columns=CONFIG_SNAPSHOTS.names)
        quarantine = pd.DataFrame(self.quarantine, columns=QUARANTINED_RECORDS.names)
        reapplied = pd.DataFrame(self.reapplied, columns=list(REAPPLIED_COLUMNS))
        evidence = pd.DataFrame(self.evidence, columns=list(EVIDENCE_COLUMNS))
        if base is not None:
            deploys = _concat(base.deploy_records[deploys.columns], deploys)
            snapshots = _concat(base.config_snapshots, snapshots)
            quarantine = _concat(base.quarantined, quarantine)
            reapplied = _concat(base.reapplied, reapplied)
            evidence = _concat(base.rollback_evidence, evidence)
        return GitExtraction(
            deploy_records=_label(deploys, horizon, as_of),
            config_snapshots=CONFIG_SNAPSHOTS.conform(snapshots),
            quarantined=QUARANTINED_RECORDS.conform(quarantine),
            reapplied=reapplied.astype(REAPPLIED_COLUMNS).reset_index(drop=True),
            last_commit=state.tip,
            commits=commits,
            rollback_evidence=evidence.astype(EVIDENCE_COLUMNS).reset_index(drop=True),
            state=state,
        )


_LABEL_COLUMNS = ("labelled", "rolled_back", "rolled_back_at", "rollback_delay_hours")
_ROW_COLUMNS = frozenset(DEPLOY_RECORDS.names) - set(_LABEL_COLUMNS)


def _label(deploys: pd.DataFrame, horizon: pd.Timedelta, as_of: pd.Timestamp) -> pd.DataFrame:
    """`apply_rollback_labels`, conformed; also when no deploy is a rollback.

    With no rollback at all, `apply_rollback_labels` fails (pandas cannot map through an empty
    datetime Series), so a placeholder rollback of nothing is added, then dropped.
    """
    if not len(deploys):
        return DEPLOY_RECORDS.empty()
    placeholder = not (deploys["is_rollback"].astype(bool) & deploys["rolls_back"].notna()).any()
    if placeholder:
        dummy = deploys.iloc[:1].copy()
        dummy["deploy_id"], dummy["is_rollback"], dummy["rolls_back"] = "\x00none", True, "\x00none"
        deploys = pd.concat([deploys, dummy], ignore_index=True)
    labelled = apply_rollback_labels(deploys, horizon=horizon, as_of=as_of)
    if placeholder:
        labelled = labelled.iloc[:-1]
    return DEPLOY_RECORDS.conform(labelled)


def _concat(old: pd.DataFrame | None, new: pd.DataFrame) -> pd.DataFrame:
    if old is None or not len(old):
        return new
    if not len(new):
        return old.reset_index(drop=True)
    return pd.concat([old, new.astype(old.dtypes.to_dict())], ignore_index=True)


def content_key(config: Any) -> str:
    """Identity of a config's content: equal exactly when `config_hash` is, but from the C
    JSON encoder (`canonical_json` indents, which forces the pure-Python one)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def field_changes(before: Any, after: Any) -> tuple[list[str], list[str], list[str]]:
    """Dotted paths added, removed and changed: `diff_configs`' fields, without its line count of the
    canonical JSON (git deploys count the files' own lines instead, and that diff is the slow part)."""
    old, new = flatten(before or {}), flatten(after or {})
    added = sorted(new.keys() - old.keys())
    removed = sorted(old.keys() - new.keys())
    changed = sorted(p for p in old.keys() & new.keys() if old[p] != new[p])
    return added, removed, changed


def _line_counts(old: FileState | None, new: FileState | None) -> tuple[int, int]:
    """Lines added and removed in one file; 0 when either side is not text (numstat's `-`)."""
    old_lines = [] if old is None else old.lines
    new_lines = [] if new is None else new.lines
    if old_lines is None or new_lines is None:
        return 0, 0
    return count_changed_lines(old_lines, new_lines)
