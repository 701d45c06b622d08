"""The one path (`tables.validated_tables`) for new rows only: the validated tables of an event log
extended by the lines of new batches, equal to validating everything again.

The events suite judges each line alone, so only new lines are validated. New deploy events are built
into deploy records against each component's last earlier config (the previous deploy event, fed to
the builder as a seed and dropped after); the previous deploys' labels are recomputed (a new rollback
can label an old deploy; cheap) and the rows whose labels changed are validated again with the new
ones. Whenever appending could differ from a rebuild, `append_validated_tables` returns the reason
instead and the caller rebuilds: a source that builds its own deploy tables (Git), re-delivery marks
of earlier lines changed, a new deploy event not later than the last earlier one, a new change request
for an earlier deploy (its message), a deploy id seen before, a rollback of a quarantined deploy, or an
earlier deploy failing its suite once relabelled."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from karma_pipelines.contracts.schema import (
    CONFIG_SNAPSHOTS,
    DEPLOY_EVENT_TYPES,
    DEPLOY_RECORDS,
    KARMA_EVENTS,
    QUARANTINED_RECORDS,
)
from karma_pipelines.pipeline.tables import SourceTables
from karma_pipelines.records import deploy_tables_from_events
from karma_pipelines.records.consistency import quarantine_orphan_snapshots
from karma_pipelines.records.labels import label_columns
from karma_pipelines.sources.base import RawTables, World
from karma_pipelines.validation import validate_table

LABELS = ["labelled", "rolled_back", "rolled_back_at", "rollback_delay_hours"]


@dataclass(frozen=True)
class PreviousTables:
    """What the validation made last time (its outputs), and the raw rows it was made from."""

    raw_rows: int  # the raw event rows it validated (the first rows of the new raw table)
    clean_rows: int
    deploy_records: pd.DataFrame
    config_snapshots: pd.DataFrame
    quarantined: pd.DataFrame


@dataclass(frozen=True)
class AppendedTables:
    tables: SourceTables
    new_events: int  # raw event rows validated now
    new_deploys: int  # deploy records appended
    relabelled: int  # earlier deploy records whose labels changed


def append_validated_tables(
    previous: PreviousTables, world: World, raw: RawTables, horizon: pd.Timedelta
) -> AppendedTables | str:
    """`validated_tables(world, raw, horizon)` from `previous` and the new raw rows, or why not."""
    if raw.deploy_records is not None or len(raw.quarantined):
        return "the source builds its own deploy tables"
    n = raw.appended_rows
    if n is None or n != previous.raw_rows:
        return "the raw events were rebuilt, not appended to what was validated"
    old_raw, new_raw = raw.events.iloc[:n], raw.events.iloc[n:]
    q = previous.quarantined
    held = set(q.loc[q["table"] == KARMA_EVENTS.name, "record_id"])
    clean_old = old_raw[~old_raw["record_id"].isin(held)].reset_index(drop=True)
    if len(clean_old) != previous.clean_rows:
        return "the previous clean events do not match the raw events"
    params = world.suite_parameters()
    if len(new_raw):
        events = validate_table(new_raw, KARMA_EVENTS, params)
        clean_new, event_q, results = events.clean, events.quarantined, events.results
    else:
        clean_new, event_q, results = (
            new_raw.reset_index(drop=True),
            QUARANTINED_RECORDS.empty(),
            pd.DataFrame(),
        )
    built = _new_deploys(previous, world, clean_old, clean_new, horizon)
    if isinstance(built, str):
        return built
    records, snapshots = built
    relabelled = _relabel(previous, records, world, horizon)
    if isinstance(relabelled, str):
        return relabelled
    old_records, changed = relabelled
    check = pd.concat([old_records.loc[changed], records], ignore_index=True)
    if len(check):
        deploys = validate_table(check, DEPLOY_RECORDS, world.suite_parameters(check))
        clean, deploy_q = deploys.clean, deploys.quarantined
    else:
        clean, deploy_q = check, QUARANTINED_RECORDS.empty()
    if clean["deploy_id"].isin(set(old_records["deploy_id"])).sum() != int(changed.sum()):
        return "an earlier deploy fails its suite once relabelled"
    if len(snapshots):
        snaps = validate_table(snapshots, CONFIG_SNAPSHOTS, params)
        snaps_clean, snaps_q = snaps.clean, snaps.quarantined
    else:
        snaps_clean, snaps_q = snapshots, QUARANTINED_RECORDS.empty()
    new_clean = clean[~clean["deploy_id"].isin(set(old_records["deploy_id"]))]
    kept, orphans = quarantine_orphan_snapshots(snaps_clean, new_clean)
    all_records = pd.concat([old_records, new_clean], ignore_index=True)
    quarantined = QUARANTINED_RECORDS.conform(
        pd.concat([q, event_q, deploy_q, snaps_q, orphans], ignore_index=True)
    )
    tables = SourceTables(
        world=world,
        horizon=horizon,
        raw_events=raw.events,
        clean_events=pd.concat([clean_old, clean_new], ignore_index=True),
        deploy_records=all_records,
        config_snapshots=pd.concat([previous.config_snapshots, kept], ignore_index=True),
        quarantined=quarantined,
        event_results=results,
        commits=int(all_records["change_id"].nunique()) if raw.commits is None else raw.commits,
        new_commits=raw.new_commits,
    )
    return AppendedTables(tables, len(new_raw), len(new_clean), int(changed.sum()))


def _new_deploys(
    previous: PreviousTables, world: World, clean_old: pd.DataFrame, clean_new: pd.DataFrame, horizon
) -> tuple[pd.DataFrame, pd.DataFrame] | str:
    """(deploy records, snapshots) of the new deploy events, labelled as a rebuild would label them."""
    is_deploy_new = clean_new["event_type"].isin(DEPLOY_EVENT_TYPES)
    new_deploys = clean_new[is_deploy_new]
    old_deploys = clean_old[clean_old["event_type"].isin(DEPLOY_EVENT_TYPES)]
    requests_new = clean_new[clean_new["event_type"] == "change.requested"]
    if requests_new["correlation_id"].isin(set(old_deploys["correlation_id"].dropna())).any():
        return "a new change request is for an earlier deploy"
    if new_deploys.empty:
        return DEPLOY_RECORDS.empty(), CONFIG_SNAPSHOTS.empty()
    if len(old_deploys) and new_deploys["ts"].min() <= old_deploys["ts"].max():
        return "a new deploy event is not later than the last earlier one"
    # Each component's last earlier deploy event: what the builder diffs the first new one against.
    seeds = old_deploys[old_deploys["entity_id"].isin(set(new_deploys["entity_id"]))]
    seeds = seeds.sort_values(["ts", "record_id"], kind="stable").drop_duplicates("entity_id", keep="last")
    wanted = set(new_deploys["correlation_id"].dropna())
    old_requests = clean_old[
        (clean_old["event_type"] == "change.requested") & clean_old["correlation_id"].isin(wanted)
    ]
    records, snapshots = deploy_tables_from_events(
        pd.concat([seeds, old_requests, clean_new], ignore_index=True), horizon=horizon, as_of=world.end
    )
    seed_ids = set(records["deploy_id"].iloc[: len(seeds)])
    records = records.iloc[len(seeds) :].reset_index(drop=True)
    snapshots = snapshots.iloc[len(seeds) :].reset_index(drop=True)
    q = previous.quarantined
    seen = set(previous.deploy_records["deploy_id"]) | set(q["record_id"]) | seed_ids
    if records["deploy_id"].isin(seen).any():
        return "a new deploy repeats an earlier deploy id"
    return records, snapshots


def _relabel(
    previous: PreviousTables, records: pd.DataFrame, world: World, horizon: pd.Timedelta
) -> tuple[pd.DataFrame, pd.Series] | str:
    """(the previous deploy records with their labels as of now, which rows changed)."""
    old = previous.deploy_records
    rollbacks = records[records["is_rollback"] & records["rolls_back"].notna()]
    quarantined = set(previous.quarantined["record_id"])
    if rollbacks["rolls_back"].isin(quarantined).any():
        return "a new rollback undoes a quarantined deploy"
    rolled_back_at = old["rolled_back_at"]
    if len(rollbacks):  # the first rollback that names a deploy counts; earlier ones are older
        first = rollbacks.sort_values("deployed_at").drop_duplicates("rolls_back").set_index("rolls_back")
        found = old["deploy_id"].map(first["deployed_at"]).astype(rolled_back_at.dtype)
        rolled_back_at = rolled_back_at.fillna(found)
    as_of = world.end if world.end is not None else pd.concat([old, records])["deployed_at"].max()
    labels = label_columns(old["deployed_at"], rolled_back_at, horizon, as_of)
    changed = pd.Series(False, index=old.index)
    out = old.copy()
    for column in LABELS:
        before, after = old[column], labels[column].astype(old[column].dtype)
        same = (before == after).fillna(False) | (before.isna() & after.isna())
        changed |= ~same.astype(bool)
        out[column] = after
    return out, changed
