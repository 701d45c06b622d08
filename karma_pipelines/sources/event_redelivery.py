"""Re-deliveries in an event log: lines that repeat an earlier line's `idempotency_key`.

A copy with the same content (the same JSON object, whatever its spacing or key order) is a
duplicate of the first one in file order, which is kept. Copies whose content differs are a
conflict: which one is true is unknown, so every copy is marked with the others' record ids and
quarantined (all kept, with the reason); file order never decides.
"""

from __future__ import annotations

import json

import pandas as pd


def _content(raw: str) -> str:
    """A line's content, canonical (keys sorted, no spacing); the line itself when not JSON."""
    try:
        return json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":"))
    except (ValueError, RecursionError):
        return raw


def mark_redeliveries(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` (a `karma_events` table in file order) with `duplicate_of` and `conflicts_with` set."""
    frame = frame.copy(deep=False)  # copy-on-write: the columns set below are this frame's own
    key, record_id = frame["idempotency_key"], frame["record_id"]
    if "envelope_error" in frame.columns:  # a key that is no string (`777`) is no key: never a copy of "777"
        key = key.where(frame["envelope_error"].isna())
    frame["duplicate_of"] = pd.Series(pd.NA, index=frame.index, dtype="string")
    frame["conflicts_with"] = pd.Series(pd.NA, index=frame.index, dtype="string")
    repeated = key.notna() & key.duplicated(keep=False)
    if not repeated.any():
        return frame
    copies = pd.DataFrame(
        {
            "key": key[repeated],
            "record_id": record_id[repeated],
            "content": frame.loc[repeated, "raw"].astype(str).map(_content),
        }
    )
    variants = copies.groupby("key", sort=False)["content"].transform("nunique")
    identical = copies[variants == 1]
    first = identical.groupby("key", sort=False)["record_id"].transform("first")
    frame.loc[identical.index, "duplicate_of"] = first.where(first != identical["record_id"])
    conflicting = copies[variants > 1]
    ids = conflicting.groupby("key", sort=False)["record_id"].agg(list)
    frame.loc[conflicting.index, "conflicts_with"] = [
        ", ".join(r for r in ids[k] if r != own)
        for k, own in zip(conflicting["key"], conflicting["record_id"], strict=True)
    ]
    return frame
