"""Which earlier deploy of a component a commit undoes, if any.

Three kinds of evidence, tried in this order for each component the commit changes:
  (a) `revert`: the message says `This reverts commit <sha>` (full or abbreviated, at least 7 hex
      digits) and that commit deployed this component;
  (b) `revert_subject`: the subject is `Revert "<subject>"` (or git >= 2.43's `Reapply "<subject>"`,
      which reverts `Revert "<subject>"`), optionally followed by a ` (#123)` pull request number,
      and an earlier deploy of this component had that subject (the latest such);
  (b') `revert_branch`: the subject is GitHub's merge of a revert branch, `Merge pull request #N from
      owner/revert-M-…` (the branch GitHub's "Revert" button makes), and an earlier deploy of this
      component came from pull request #M (`Merge pull request #M …` or a squash merge's ` (#M)`);
  (c) `restore`: the new config has exactly the content (config hash) that the component had
      before an earlier deploy. The deploy undone is the **latest** deploy whose pre-deploy content
      equals the new content: with A→B (d1), B→C (d2), C→B (d3), d3 undoes d2, not d1; with A→B, B→A,
      A→C, C→A the last one undoes A→C. Every deploy after the one undone is undone with it, but the
      one undone is the first change that the restore throws away, so it alone gets the label.
      Absence is not content: a delete is never a restore (only (a) or (b) can make a delete undo
      a create), but re-creating a deleted component with the exact content it had before its
      delete restores that content, so it undoes the delete.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

_REVERTS_COMMIT = re.compile(r"This reverts commit ([0-9a-fA-F]{7,40})\b")
_REVERT_SUBJECT = re.compile(r'Revert "(?P<subject>.*)"(?: \(#\d+\))?')
_REAPPLY_SUBJECT = re.compile(r'Reapply "(?P<subject>.*)"(?: \(#\d+\))?')
_REVERT_BRANCH = re.compile(r"Merge pull request #\d+ from [^/\s]+/revert-(?P<pr>\d+)-")
_PULL_REQUEST = re.compile(r"^Merge pull request #(?P<pr>\d+) |\(#(?P<squash>\d+)\)$")


def reverted_shas(message: str) -> list[str]:
    """Commit ids (lower case, maybe abbreviated) that a message says it reverts."""
    return [m.lower() for m in _REVERTS_COMMIT.findall(message)]


def reverted_subject(subject: str) -> str | None:
    """The subject of the commit that a revert's subject names, or None."""
    if not subject.startswith(("Revert ", "Reapply ")):
        return None  # neither pattern can match (a quick test: most subjects)
    if m := _REVERT_SUBJECT.fullmatch(subject):
        return m["subject"]
    if m := _REAPPLY_SUBJECT.fullmatch(subject):
        return f'Revert "{m["subject"]}"'
    return None


def reverted_pull_request(subject: str) -> str | None:
    """The pull request number that a merge of GitHub's `revert-<N>-…` branch reverts, or None."""
    m = _REVERT_BRANCH.match(subject)
    return m["pr"] if m else None


def pull_request(subject: str) -> str | None:
    """The pull request a commit subject names as its own (a merge or a squash merge), or None."""
    if not subject.startswith("Merge pull request #") and "(#" not in subject:
        return None  # neither form can match (a quick test: most subjects)
    m = _PULL_REQUEST.search(subject)
    return (m["pr"] or m["squash"]) if m else None


@dataclass(frozen=True)
class DeployRef:
    """What rollback detection needs to know about one earlier deploy."""

    deploy_id: str
    change_id: str  # commit sha
    subject: str  # the commit subject; once in a `DeployHistory`, its `subject_key` (no raw text kept)
    is_rollback: bool
    rolls_back: str | None


def subject_key(subject: str) -> str:
    """What the saved state keeps of a commit subject (which may hold a secret): its hash, enough to
    match a later `Revert "<subject>"`."""
    return "sha256:" + hashlib.sha256(subject.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class DeployHistory:
    """One component's deploys, oldest first, indexed for the three kinds of evidence."""

    deploys: list[DeployRef] = field(default_factory=list)
    by_pre_hash: dict[str, int] = field(default_factory=dict)  # content before → latest deploy
    by_subject: dict[str, int] = field(default_factory=dict)  # `subject_key` → latest deploy
    by_pull_request: dict[str, int] = field(default_factory=dict)  # PR number → latest deploy

    def add(self, ref: DeployRef, pre_hash: str | None) -> None:
        index = len(self.deploys)
        key = subject_key(ref.subject)
        self.deploys.append(DeployRef(ref.deploy_id, ref.change_id, key, ref.is_rollback, ref.rolls_back))
        if pre_hash is not None:
            self.by_pre_hash[pre_hash] = index
        self.by_subject[key] = index
        if (number := pull_request(ref.subject)) is not None:
            self._pull_requests()[number] = index

    def _pull_requests(self) -> dict[str, int]:
        if not hasattr(self, "by_pull_request"):  # a state pickled before this index existed
            self.by_pull_request = {}
        return self.by_pull_request

    def undone_by(
        self, shas: tuple[str, ...], subject: str, new_hash: str | None
    ) -> tuple[DeployRef, str] | None:
        """(the deploy undone, the evidence kind) for a commit that names `shas` as reverted (see
        `reverted_shas`), has this subject and gives the component content `new_hash` (None: gone)."""
        if shas:
            for ref in reversed(self.deploys):
                if any(ref.change_id.startswith(sha) for sha in shas):
                    return ref, "revert"
        target_subject = reverted_subject(subject)
        if target_subject is not None:
            # A state saved before subjects were hashed holds them as written.
            at = self.by_subject.get(subject_key(target_subject), self.by_subject.get(target_subject))
            if at is not None:
                return self.deploys[at], "revert_subject"
        number = reverted_pull_request(subject)
        if number is not None and number in self._pull_requests():
            return self.deploys[self._pull_requests()[number]], "revert_branch"
        if new_hash is not None and new_hash in self.by_pre_hash:
            return self.deploys[self.by_pre_hash[new_hash]], "restore"
        return None
