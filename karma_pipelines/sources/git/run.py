"""One pass of Git extraction over a range of commits: file states in, table rows out.

Every first-parent commit that changes a component's parsed config is a deploy of it; lines added
and removed are git's own `--numstat` counts of the component's files, summed.
"""

from __future__ import annotations

import json
import pickle
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from karma_pipelines.contracts.entry_memo import EntryMemo, compact_text, flatten_entries
from karma_pipelines.contracts.redaction import redact, redact_entries, redact_text
from karma_pipelines.records.from_events import snapshot_row
from karma_pipelines.sources.git.coverage import Coverage
from karma_pipelines.sources.git.layout import ConfigFile, Layouts, path_text
from karma_pipelines.sources.git.log import Change, Commit, read_blobs, read_commits
from karma_pipelines.sources.git.parse import SYMLINK_MODE, Parsed, block_cache, parse_blob
from karma_pipelines.sources.git.reverts import DeployRef, reverted_shas
from karma_pipelines.sources.git.state import (
    QUARANTINE_TABLE,
    ComponentState,
    FileState,
    GitExtraction,
    GitState,
    content_key,
    extraction,
    flat_changes,
)


class Run:
    """One pass over a range of commits, from a previous state (or none)."""

    def __init__(self, layout: Layouts, git_dir: Path, max_file_bytes: int, state: GitState | None):
        self.layout = layout
        self.git_dir = git_dir
        self.max_file_bytes = max_file_bytes
        # Never mutate the previous extraction's state: calling twice must give the same result.
        # A private copy (the previous extraction must not change); a pickle round trip is several
        # times faster than copy.deepcopy on these plain nested dicts.
        copied = pickle.dumps(state.components, pickle.HIGHEST_PROTOCOL) if state else None
        self.components: dict[tuple[str, str], ComponentState] = pickle.loads(copied) if copied else {}
        self.matched_any = False
        self.blocks = block_cache()  # big YAML files: each top-level block parsed once
        # Copied like the components: the previous extraction's own coverage must not change.
        previous = pickle.loads(pickle.dumps(state.coverage)) if state and state.coverage else None
        self.coverage = previous or Coverage(layout.patterns)
        self._flat: dict[tuple[str, str], dict] = {}  # component -> `flatten` of its config, once made
        self._entries = EntryMemo()  # redacted and flattened entries, once per entry object
        self.rows: dict[str, list[dict]] = {
            name: [] for name in ("deploys", "snapshots", "quarantine", "reapplied", "evidence")
        }

    def _keep(self, path: str) -> bool:
        return self.layout.match(path) is not None

    def read_log(self, tip: str, since: str | None) -> tuple[list[Commit], int, str | None, int]:
        """(commits that change a config, commits read, first parent of the oldest, newest time)."""
        kept: list[Commit] = []
        total, first_parent, last_time = 0, None, 0
        which = self.layout.which
        for commit in read_commits(self.git_dir, tip, since, self._keep, self.layout.looks_like_config):
            if total == 0:
                first_parent = commit.parents[0] if commit.parents else None
            total += 1
            last_time = commit.time
            self.coverage.add([(which(c.path)[0], c.path) for c in commit.changes], commit.left_out)
            commit.left_out = []
            if commit.changes:
                commit.reverts = tuple(reverted_shas(commit.message))
                commit.message = ""  # all that is needed of it is in `reverts`
                kept.append(commit)
        self.matched_any = bool(kept)
        return kept, total, first_parent, last_time

    def process(self, commits: list[Commit], baseline: str | None = None) -> None:
        """Every commit's changes into the components' state, with a deploy per changed component;
        `baseline`: the boundary commit of a shallow clone, whose files are the state history starts
        from (their `create` would be false: they existed before it), so it makes no deploy."""
        plan = [c.new_blob for commit in commits for c in commit.changes if c.new_mode.startswith("100")]
        blobs = read_blobs(self.git_dir, plan, self.max_file_bytes)
        for commit in commits:
            lines: dict[tuple[str, str], list[int]] = {}
            for change in commit.changes:
                config_file = self.layout.match(change.path)
                key = config_file.identity
                comp = self.components.get(key)
                if comp is None:
                    comp = self.components[key] = ComponentState(
                        config_file.environment, config_file.component_type, config_file.nickname
                    )
                comp.files.pop(change.path, None)
                if change.new_mode != "000000":
                    comp.files[change.path] = self._load(commit, change, config_file, blobs)
                counts = lines.setdefault(key, [0, 0])
                counts[0] += change.added
                counts[1] += change.removed
            self._deploy(commit, lines, record=commit.sha != baseline)
        for _ in blobs:  # every planned blob has been read; this closes the process
            raise AssertionError("more blobs read than planned")

    def _load(self, commit: Commit, change: Change, config_file: ConfigFile, blobs) -> FileState:
        path, mode = path_text(change.path), change.new_mode  # as reasons name it
        size = None
        if not mode.startswith("100"):
            kind = "symlink" if mode == SYMLINK_MODE else "not_a_file"
            parsed = Parsed(reason=f"{kind}({path})")
        else:
            blob = next(blobs)
            if blob.sha != change.new_blob:
                raise AssertionError(f"blob stream out of step at {blob.sha} (wanted {change.new_blob})")
            if blob.size < 0:
                parsed = Parsed(reason=f"missing({path}): blob {blob.sha} is not in the repository")
            else:
                size = blob.size
                parsed = parse_blob(path, blob.data, blob.size, self.max_file_bytes, self.blocks)
                # Redacted where the source reads it: no later stage, nor the saved state, sees a secret.
                if parsed.ok:
                    # a change of a secret alone is still a change: the raw document's key, not its value
                    memo = self._entries if parsed.shared else None  # else every object is new
                    doc = redact(parsed.doc) if memo is None else redact_entries(parsed.doc, memo)
                    parsed = Parsed(doc=doc, raw_key=content_key(parsed.doc, memo), shared=parsed.shared)
        if not parsed.ok:
            self._quarantine(commit, change, config_file, parsed.reason, size)
        return FileState(config_file.file_key, mode, change.new_blob, parsed)

    def _quarantine(
        self, commit: Commit, change: Change, config_file: ConfigFile, reason: str, size: int | None
    ) -> None:
        path = path_text(change.path)  # text for every store; the raw name was the identity
        record_id = f"{commit.sha}:{path}"
        record = {
            "commit": commit.sha,
            "committed_at": pd.Timestamp(commit.time, unit="s", tz="UTC").isoformat(),
            "author": commit.author_email or commit.author_name,
            "path": path,
            "mode": change.new_mode,
            "blob": change.new_blob,
            "size": size,
            "component": config_file.component,
            "environment": config_file.environment,
        }
        self.rows["quarantine"].append(
            {
                "quarantine_id": f"{QUARANTINE_TABLE}:{record_id}",
                "table": QUARANTINE_TABLE,
                "record_id": record_id,
                "reasons": reason,
                "n_reasons": 1,
                "record": json.dumps(record, sort_keys=True),
            }
        )

    def _deploy(self, commit: Commit, lines: dict[tuple[str, str], list[int]], record: bool = True) -> None:
        """One deploy per component whose config this commit changed (without `record`: the state
        only)."""
        changed: list[tuple[tuple[str, str], Any, str | None]] = []
        for key in sorted(lines):
            comp = self.components[key]
            if comp.files:
                config = self.layout.merge({p: (f.file_key, f.parsed.doc) for p, f in comp.files.items()})
                if config is None:
                    continue  # nothing parsed: the config is unknown, so no deploy
                raw = sorted((p, f.file_key, f.parsed.raw_key) for p, f in comp.files.items() if f.parsed.ok)
                new_hash = content_key(raw)  # the files as written: a rotated secret is a change
            else:
                config, new_hash = None, None
            if new_hash == comp.content_key:
                continue  # same config (or absent before and after)
            changed.append((key, config, new_hash))
        if not record:
            for key, config, new_hash in changed:
                self.components[key].config, self.components[key].content_key = config, new_hash
                self._flat.pop(key, None)
            return
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
                self.rows["evidence"].append(
                    {"deploy_id": deploy_id, "rolls_back": rolls_back, "evidence": evidence}
                )
                if target.is_rollback and target.rolls_back is not None:
                    self.rows["reapplied"].append({"deploy_id": target.rolls_back, "reapplied_by": deploy_id})
            # entry by entry only for a config made from the block cache's blocks (else all is new)
            memo = self._entries if any(f.parsed.shared for f in comp.files.values()) else None
            old_flat = self._flat.pop(key, None)
            if old_flat is None:
                old_flat = flatten_entries(comp.config or {}, memo)
            new_flat = self._flat[key] = flatten_entries(config or {}, memo)
            fields_added, fields_removed, fields_changed = flat_changes(old_flat, new_flat)
            added, removed = lines[key]
            self.rows["deploys"].append(
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
                    "message": redact_text(commit.subject),
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
            self.rows["snapshots"].append(
                snapshot_row(
                    deploy_id,
                    ts,
                    comp.component,
                    comp.environment,
                    config or {},
                    new_flat,
                    compact_text(config or {}, memo),
                )
            )
            ref = DeployRef(deploy_id, commit.sha, commit.subject, undone is not None, rolls_back)
            comp.history.add(ref, pre_hash=comp.content_key)
            comp.config, comp.content_key = config, new_hash

    def state(self, layout: str, tip: str, tip_time: int) -> GitState:
        return GitState(layout, self.max_file_bytes, tip, tip_time, self.components, self.coverage)

    def frames(
        self, base: GitExtraction | None, state: GitState, commits: int, horizon, as_of: pd.Timestamp
    ) -> GitExtraction:
        return extraction(self.rows, base, state, commits, horizon, as_of)
