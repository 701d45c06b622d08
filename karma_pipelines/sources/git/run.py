"""One pass of Git extraction over a range of commits: file states in, table rows out.

Every first-parent commit that changes a component's parsed config is a deploy of it; lines added
and removed are git's own `--numstat` counts of the component's files, summed.
"""

from __future__ import annotations

import gc
import json
import pickle
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from karma_pipelines.contracts.config_diff import flat_changes
from karma_pipelines.contracts.entry_memo import compact_text, flatten_entries
from karma_pipelines.contracts.redaction import redact_text
from karma_pipelines.records.from_events import snapshot_row
from karma_pipelines.sources.gc_pause import without_cyclic_gc
from karma_pipelines.sources.git.blobs import BlobReader
from karma_pipelines.sources.git.coverage import Coverage
from karma_pipelines.sources.git.file_versions import FileVersions
from karma_pipelines.sources.git.layout import ConfigFile, Layouts, path_text
from karma_pipelines.sources.git.log import Change, Commit, read_commits
from karma_pipelines.sources.git.reverts import DeployRef, reverted_shas
from karma_pipelines.sources.git.state import (
    QUARANTINE_TABLE,
    ComponentState,
    FileState,
    GitExtraction,
    GitState,
    extraction,
    files_key,
)

LOOKAHEAD = 256  # commits read from the log, and their blobs asked for, before the oldest is processed


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
        self.files = FileVersions(max_file_bytes)
        self._entries = self.files.entries  # redacted and flattened entries, once per entry object
        # Copied like the components: the previous extraction's own coverage must not change.
        previous = pickle.loads(pickle.dumps(state.coverage)) if state and state.coverage else None
        self.coverage = previous or Coverage(layout.patterns)
        self._flat: dict[tuple[str, str], dict] = {}  # component -> `flatten` of its config, once made
        self.rows: dict[str, list[dict]] = {
            name: [] for name in ("deploys", "snapshots", "quarantine", "reapplied", "evidence")
        }
        # what `read_log` has read so far: commits, the first one's first parent, the newest's time
        self.total, self.first_parent, self.last_time = 0, None, 0
        self.baseline: str | None = None  # the shallow clone's boundary commit, when `process` met it

    def _keep(self, path: str) -> bool:
        return self.layout.match(path) is not None

    def read_log(self, tip: str, since: str | None) -> Iterator[Commit]:
        """The commits that change a config, oldest first, as `git log` gives them; `total`,
        `first_parent` and `last_time` count every commit read so far."""
        which = self.layout.which
        for commit in read_commits(self.git_dir, tip, since, self._keep, self.layout.looks_like_config):
            if self.total == 0:
                self.first_parent = commit.parents[0] if commit.parents else None
            self.total += 1
            self.last_time = commit.time
            self.coverage.add([(which(c.path)[0], c.path) for c in commit.changes], commit.left_out)
            commit.left_out = []
            if commit.changes:
                commit.reverts = tuple(reverted_shas(commit.message))
                commit.message = ""  # all that is needed of it is in `reverts`
                yield commit

    def process(self, commits: Iterable[Commit], shallow: bool = False) -> None:
        """Every commit's changes into the components' state, with a deploy per changed component.
        `shallow`: the history is a shallow clone's; when its oldest commit has no parent, that is the
        clone's boundary (`baseline`), whose files are the state history starts from (their `create`
        would be false: they existed before it), so it makes no deploy.

        Streamed: a commit's blobs are asked for as soon as the log names them, and the commit is
        processed `LOOKAHEAD` commits later, while git finds the next ones. Without the cyclic
        collector: the pass keeps millions of acyclic objects (states, parsed blocks, memos, rows), which
        its full collections re-scanned again and again (a fifth of a long history's time, measured);
        they end in the oldest generation unscanned (`gc.freeze` then `gc.unfreeze`), not all in the
        youngest, which the first collection after the pass would scan whole."""
        with without_cyclic_gc(), BlobReader(self.git_dir, self.max_file_bytes) as blobs:
            ahead: deque[Commit] = deque()
            oldest = shallow  # only the oldest commit can be the boundary
            for commit in commits:
                if oldest:
                    oldest = False
                    self.baseline = None if commit.parents else commit.sha
                blobs.request(self.files.plan(commit.changes))
                ahead.append(commit)
                if len(ahead) > LOOKAHEAD:
                    self._commit(ahead.popleft(), blobs)
            while ahead:
                self._commit(ahead.popleft(), blobs)
            if blobs.pending():
                raise AssertionError("fewer blobs read than asked for")
            gc.freeze()
            gc.unfreeze()

    def _commit(self, commit: Commit, blobs: BlobReader) -> None:
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
                parsed, size = self.files.load(change, blobs)
                if not parsed.ok:
                    self._quarantine(commit, change, config_file, parsed.reason, size)
                state = FileState(config_file.file_key, change.new_mode, change.new_blob, parsed)
                comp.files[change.path] = state
            counts = lines.setdefault(key, [0, 0])
            counts[0] += change.added
            counts[1] += change.removed
        self._deploy(commit, lines, record=commit.sha != self.baseline)

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
                new_hash = files_key(raw)  # the files as written: a rotated secret is a change
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
        per_key = Counter(self.components[key].component for key, _, _ in changed) if len(changed) > 1 else {}
        ts = commit.time  # seconds: the tables' times are made a column at a time (`state.extraction`)
        for key, config, new_hash in changed:
            comp = self.components[key]
            suffix = f"@{comp.environment}" if per_key.get(comp.component, 0) > 1 else ""
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
            text, text_hash = self.files.snapshot_text(config)
            if text is None:
                text = compact_text(config or {}, memo)
            snapshot = snapshot_row(
                deploy_id, ts, comp.component, comp.environment, config or {}, new_flat, text, text_hash
            )
            self.rows["snapshots"].append(snapshot)
            ref = DeployRef(deploy_id, commit.sha, commit.subject, undone is not None, rolls_back)
            comp.history.add(ref, pre_hash=comp.content_key)
            comp.config, comp.content_key = config, new_hash

    def state(self, layout: str, tip: str, tip_time: int) -> GitState:
        return GitState(layout, self.max_file_bytes, tip, tip_time, self.components, self.coverage)

    def frames(
        self, base: GitExtraction | None, state: GitState, commits: int, horizon, as_of: pd.Timestamp
    ) -> GitExtraction:
        return extraction(self.rows, base, state, commits, horizon, as_of)
