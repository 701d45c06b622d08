"""Small hand-built tables for tests: deploy histories written as readable tuples."""

from __future__ import annotations

import pandas as pd

from karma_pipelines.contracts.schema import CONFIG_SNAPSHOTS, DEPLOY_RECORDS
from karma_pipelines.records.from_events import snapshot_row
from karma_pipelines.records.labels import apply_rollback_labels

T0 = pd.Timestamp("2026-03-02 10:00", tz="UTC")


def history(rows: list[dict], horizon_days: float = 7, as_of: pd.Timestamp | None = None):
    """(deploy_records, config_snapshots) from dicts with: id, hours (after T0), component, author,
    config, and optionally rolls_back, action, env, change_id, changed (list of fields)."""
    deploys, snaps = [], []
    for r in rows:
        ctype, _, nick = r["component"].partition("/")
        changed = r.get("changed", [])
        ts = T0 + pd.Timedelta(hours=r["hours"])
        env = r.get("env", "dev")
        deploys.append(
            {
                "deploy_id": r["id"],
                "deployed_at": ts,
                "component": r["component"],
                "component_type": ctype,
                "nickname": nick,
                "environment": env,
                "author": r.get("author", "ana"),
                "action": r.get("action", "rollback" if r.get("rolls_back") else "update"),
                "source": "cli",
                "change_id": r.get("change_id", r["id"]),
                "message": r.get("message", ""),
                "fields_added": [],
                "fields_removed": [],
                "fields_changed": changed,
                "n_fields_added": 0,
                "n_fields_removed": 0,
                "n_fields_changed": len(changed),
                "lines_added": 2 * len(changed),
                "lines_removed": 2 * len(changed),
                "outcome": "succeeded",
                "is_rollback": bool(r.get("rolls_back")),
                "rolls_back": r.get("rolls_back"),
            }
        )
        snaps.append(snapshot_row(r["id"], ts, r["component"], env, r.get("config", {})))
    records = apply_rollback_labels(
        pd.DataFrame(deploys), horizon=pd.Timedelta(days=horizon_days), as_of=as_of
    )
    return DEPLOY_RECORDS.conform(records), CONFIG_SNAPSHOTS.conform(pd.DataFrame(snaps))


def clean_world_events(root):
    """A simulated world's event log with every line the simulator planted malformed dropped (what the
    suite quarantines), and the world as the event-log source describes it."""
    from karma_pipelines.sources.event_log import read_event_log
    from karma_pipelines.sources.event_world import EventLogSource

    world = EventLogSource(root).describe()
    raw = read_event_log(world.root / "events")
    malformed = pd.read_csv(root / "ground_truth" / "malformed.csv")
    planted = set(malformed["file"] + ":" + malformed["line"].astype(str))
    return raw[~raw["record_id"].isin(planted)].reset_index(drop=True), world
