"""Text of the change (commit subject or change-request message): length and risk-flavoured words.

Fixed vocabularies, so nothing is learned from labels here (no leakage); the model learns the weights."""

from __future__ import annotations

import re

import pandas as pd

KEYWORDS = {
    "msg_fix": r"\b(?:fix|fixes|fixed|hotfix|patch)\b",
    "msg_urgent": r"\b(?:urgent|asap|emergency|hotfix|quick)\b",
    "msg_wip": r"\b(?:wip|try|trying|test|temp|tmp|experiment)\b",
    "msg_upgrade": r"\b(?:bump|upgrade|update|migrate|migration|version)\b",
    "msg_scale": r"\b(?:scale|scaling|capacity|resize|increase|decrease)\b",
    "msg_network": r"\b(?:cidr|subnet|ingress|egress|network|sg|security)\b",
    "msg_reapply": r"\b(?:reapply|re-apply|reland|re-land|redo|again|retry|restore)\b",
    "msg_revert": r"\b(?:revert|reverts|reverted|rollback|roll back|undo)\b|\brevert-\d+",
    "msg_test": r"\b(?:test|testing|tests|debug|trial)\b",
    "msg_merge": r"^merge (?:pull request|branch|remote-tracking)",
}
# Ticket references, matched on the original case: JIRA-style keys, `#123`, `Change-Id`/`Story:` lines.
TICKET = r"\b[A-Z][A-Z0-9]+-\d+\b|#\d+|\b(?:Story|Task|Closes-Bug|Related-Bug|Partial-Bug): ?\d+"
MERGE_PR = r"^Merge pull request #\d+"
_WORD = re.compile(r"[A-Za-z0-9_]+")


def text_features(messages: pd.Series) -> pd.DataFrame:
    text = messages.fillna("").astype(str).str.lower()
    out = pd.DataFrame(index=messages.index)
    out["msg_words"] = text.str.count(_WORD.pattern).astype("int64")
    for name, pattern in KEYWORDS.items():
        out[name] = text.str.contains(pattern, regex=True).astype("int64")
    own = messages.fillna("").astype(str).str.replace(MERGE_PR, "", regex=True)  # not the PR's own number
    out["msg_ticket"] = own.str.contains(TICKET, regex=True).astype("int64")
    return out
