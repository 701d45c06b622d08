"""What Git extraction keeps and returns: file and component states (carried over by an incremental
run), the extraction's tables, and how they are labelled and joined to the previous extraction's."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from json.encoder import encode_basestring as _string  # what `ensure_ascii=False` writes a string as
from typing import Any

import pandas as pd

from karma_pipelines.contracts.config_diff import flat_changes
from karma_pipelines.contracts.config_fields import flatten
from karma_pipelines.contracts.entry_memo import EntryMemo, compact_text
from karma_pipelines.contracts.schema import CONFIG_SNAPSHOTS, DEPLOY_RECORDS, QUARANTINED_RECORDS
from karma_pipelines.records.labels import apply_rollback_labels
from karma_pipelines.sources.git.coverage import Coverage
from karma_pipelines.sources.git.parse import Parsed
from karma_pipelines.sources.git.reverts import DeployHistory

QUARANTINE_TABLE = "git_files"
REAPPLIED_COLUMNS = {"deploy_id": "string", "reapplied_by": "string"}
EVIDENCE_COLUMNS = {"deploy_id": "string", "rolls_back": "string", "evidence": "string"}
_LABEL_COLUMNS = ("labelled", "rolled_back", "rolled_back_at", "rollback_delay_hours")
ROW_COLUMNS = [c for c in DEPLOY_RECORDS.names if c not in _LABEL_COLUMNS]  # what a run writes


@dataclass
class FileState:
    """One config file as of the last commit read."""

    file_key: str
    mode: str
    blob: str
    parsed: Parsed


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

    layout: str  # `Layouts.key`: the patterns joined by `;`, in order
    max_file_bytes: int
    tip: str
    tip_time: int
    components: dict[tuple[str, str], ComponentState] = field(default_factory=dict)
    coverage: Coverage | None = None  # None in a state saved before coverage was counted


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


def extraction(
    rows: dict[str, list[dict]],
    base: GitExtraction | None,
    state: GitState,
    commits: int,
    horizon: pd.Timedelta,
    as_of: pd.Timestamp,
) -> GitExtraction:
    """The extraction from a run's rows (`deploys`, `snapshots`, `quarantine`, `reapplied`,
    `evidence`; times in seconds since the epoch) appended to `base`'s tables, every deploy labelled
    as of `as_of`."""
    deploys = _with_times(pd.DataFrame(rows["deploys"], columns=ROW_COLUMNS), "deployed_at")
    snapshots = _with_times(pd.DataFrame(rows["snapshots"], columns=CONFIG_SNAPSHOTS.names), "captured_at")
    quarantine = pd.DataFrame(rows["quarantine"], columns=QUARANTINED_RECORDS.names)
    reapplied = pd.DataFrame(rows["reapplied"], columns=list(REAPPLIED_COLUMNS))
    evidence = pd.DataFrame(rows["evidence"], columns=list(EVIDENCE_COLUMNS))
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


def _with_times(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """`column`'s commit times (seconds since the epoch) as UTC timestamps."""
    frame[column] = pd.to_datetime(frame[column].astype("int64"), unit="s", utc=True)
    return frame


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


def content_key(config: Any, memo: EntryMemo | None = None) -> str:
    """Identity of a config's content: equal exactly when `config_hash` is (`memo`: its text made
    entry by entry, the same text)."""
    return text_key(compact_text(config, memo, ensure_ascii=False))


def text_key(text: str) -> str:
    """`content_key` of the config whose compact JSON (without `ensure_ascii`) is `text`."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def files_key(files: list[tuple[str, str, str]]) -> str:
    """`content_key(files)` of (path, file key, raw key) triples, its JSON text joined directly."""
    text = ",".join(f"[{_string(p)},{_string(k)},{_string(r)}]" for p, k, r in files)
    return text_key(f"[{text}]")


def field_changes(before: Any, after: Any) -> tuple[list[str], list[str], list[str]]:
    """Dotted paths added, removed and changed: `diff_configs`' fields, without its line count of the
    canonical JSON (git deploys count the files' own lines instead, and that diff is the slow part)."""
    return flat_changes(flatten(before or {}), flatten(after or {}))
