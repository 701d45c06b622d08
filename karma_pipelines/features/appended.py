"""Appended features: the rows of deploys not in the previous feature table, computed alone.

A point-in-time feature of a deploy uses only what was known before it, so once computed it never
changes while the history only grows forward: new deploys (all later than the previous table's last
one), new rollbacks (which happen after the deploys they undo, so only later rows count them) and new
snapshots. Labels are different: a deploy's `labelled` / `rolled_back` become known later, so the
label columns of every row are refreshed from the current deploy records (cheap: a lookup).

When the history did not only grow forward (a previous deploy gone or changed, a new deploy as old
as the previous table's last one, other feature columns), the table is rebuilt from scratch; `Appended.reason`
says why. `recomputed_rows` recomputes rows from scratch (the check that appended rows equal a full
rebuild)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from karma_pipelines.contracts.schema import column_isin
from karma_pipelines.features.change_values import change_value_features
from karma_pipelines.features.daily_state import daily_state_features
from karma_pipelines.features.for_deploys import relevant_history
from karma_pipelines.features.rollback import LABEL_COLUMNS, build_rollback_features

# Label columns that never change once a deploy is known; the others are refreshed on every update.
KEY_COLUMNS = ["deploy_id", "deployed_at", "component", "change_id", "is_rollback"]
REFRESHED = [c for c in LABEL_COLUMNS if c not in KEY_COLUMNS]


@dataclass(frozen=True)
class Appended:
    features: pd.DataFrame  # the whole table, in the order of `build_rollback_features`
    reused_rows: int  # rows taken from the previous table (0: rebuilt)
    appended_rows: int  # rows computed now
    reason: str  # why the rows were appended, or why the table was rebuilt


def append_rollback_features(
    previous: pd.DataFrame | None, deploys: pd.DataFrame, snapshots: pd.DataFrame
) -> Appended:
    """`build_rollback_features(deploys, snapshots)`, computing only the rows of deploys that are not
    in `previous` (the table an earlier call returned) when that is the same (see the module)."""
    reason = _not_appendable(previous, deploys)
    if reason is not None:
        full = build_rollback_features(deploys, snapshots)
        return Appended(full, 0, len(full), reason)
    assert previous is not None
    new_ids = set(deploys["deploy_id"]) - set(previous["deploy_id"])
    old = _refresh_labels(previous, deploys)
    if not new_ids:
        return Appended(old, len(old), 0, "no new deploys: labels refreshed")
    new = new_rows(deploys, snapshots, new_ids)[list(previous.columns)]
    new = new.astype(previous.dtypes.to_dict())
    table = pd.concat([old, new], ignore_index=True)
    return Appended(table, len(old), len(new), f"{len(new)} new deploys appended")


def new_rows(deploys: pd.DataFrame, snapshots: pd.DataFrame, wanted: set[str]) -> pd.DataFrame:
    """The rows of `build_rollback_features(deploys, snapshots)` for the `wanted` deploys: as
    `features_for`, and the config-value features (a pass over every earlier deploy) from the deploys
    they depend on only: the same service nickname (its environments, its staging config)."""
    target = deploys[column_isin(deploys["deploy_id"], wanted)]
    state = daily_state_features(target, snapshots)
    narrow = deploys[column_isin(deploys["nickname"], set(target["nickname"]))]
    narrow = narrow.sort_values(["deployed_at", "deploy_id"], kind="stable")  # as the full build's
    snaps = snapshots[column_isin(snapshots["deploy_id"], set(narrow["deploy_id"]))]
    values = change_value_features(narrow, snaps)
    values.insert(0, "deploy_id", narrow["deploy_id"].to_numpy())
    values = values[column_isin(values["deploy_id"], wanted)]
    small_deploys, small_snaps = relevant_history(deploys, snapshots, wanted)
    return build_rollback_features(
        small_deploys, small_snaps, only=wanted, daily_state=state, change_values=values
    )


def _not_appendable(previous: pd.DataFrame | None, deploys: pd.DataFrame) -> str | None:
    """Why the previous table cannot be extended (None: it can)."""
    if previous is None:
        return "no previous table"
    if not set(LABEL_COLUMNS) <= set(previous.columns):
        return "the previous table has no label columns"
    if previous.empty:
        return "the previous table is empty"
    current = deploys.set_index("deploy_id")
    ids = previous["deploy_id"]
    gone = ~column_isin(ids, set(current.index))
    if gone.any():
        return f"{int(gone.sum())} previous deploys are gone (e.g. {ids[gone].iloc[0]})"
    then = previous.set_index("deploy_id")[KEY_COLUMNS[1:]]
    now = current.loc[then.index, KEY_COLUMNS[1:]]
    for column in KEY_COLUMNS[1:]:
        differ = ~_same(then[column], now[column])
        if differ.any():
            return f"{column} of {int(differ.sum())} previous deploys changed (e.g. {then.index[differ][0]})"
    last = previous["deployed_at"].max()
    new = deploys[~column_isin(deploys["deploy_id"], set(ids))]
    early = new["deployed_at"] <= last
    if early.any():
        first = new.loc[early, "deploy_id"].iloc[0]
        return (
            f"{int(early.sum())} new deploys are not later than the previous table's last one (e.g. {first})"
        )
    return None


def _same(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Elementwise exact equality of two aligned columns, a null equal to a null."""
    a, b = a.reset_index(drop=True), b.reset_index(drop=True)
    equal = (a == b).fillna(False).to_numpy(dtype=bool)
    return equal | (a.isna().to_numpy() & b.isna().to_numpy())


def _refresh_labels(previous: pd.DataFrame, deploys: pd.DataFrame) -> pd.DataFrame:
    """The previous rows with today's labels (an outcome becomes known after its deploy)."""
    current = deploys.set_index("deploy_id")
    out = previous.copy()
    for column in REFRESHED:
        values = current.loc[previous["deploy_id"], column]
        out[column] = pd.Series(values.to_numpy(), index=out.index, dtype=previous[column].dtype)
    return out


def rows_to_verify(table: pd.DataFrame, appended: int, sample: int) -> set[str]:
    """Deploy ids to recompute: the last `appended` rows (what an update computed) and `sample` of the
    others, spread over the table (the same ones for the same table)."""
    ids = table["deploy_id"]
    kept = ids.iloc[: len(ids) - appended]
    if len(kept) > sample:
        kept = kept.sample(sample, random_state=len(ids))
    return set(ids.iloc[len(ids) - appended :]) | set(kept)


def recomputed_rows(
    deploys: pd.DataFrame, snapshots: pd.DataFrame, table: pd.DataFrame, ids: set[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows of `table`, the same rows computed from scratch: from the whole history, without the
    previous table) for `ids`, both indexed by deploy_id in the table's order."""
    stored = table[column_isin(table["deploy_id"], ids)].set_index("deploy_id")
    fresh = new_rows(deploys, snapshots, ids).set_index("deploy_id")
    return stored, fresh.reindex(stored.index)


def differing_cells(stored: pd.DataFrame, fresh: pd.DataFrame) -> pd.DataFrame:
    """deploy_id, column, stored, rebuilt: every cell that is not exactly the same (a missing row or
    column, another dtype, another value; NaN equals NaN)."""
    rows = []
    for column in stored.columns.union(fresh.columns, sort=False):
        if column not in stored or column not in fresh:
            rows.append(
                {"deploy_id": "*", "column": column, "stored": column in stored, "rebuilt": column in fresh}
            )
            continue
        a, b = stored[column], fresh[column]
        if a.dtype != b.dtype:
            rows.append({"deploy_id": "*", "column": column, "stored": str(a.dtype), "rebuilt": str(b.dtype)})
            continue
        for deploy_id in stored.index[~_same(a, b)]:
            rows.append(
                {"deploy_id": deploy_id, "column": column, "stored": a[deploy_id], "rebuilt": b[deploy_id]}
            )
    return pd.DataFrame(rows, columns=["deploy_id", "column", "stored", "rebuilt"])
