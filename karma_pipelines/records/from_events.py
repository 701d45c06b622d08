"""Build `deploy_records` and `config_snapshots` from validated Karma events."""

from __future__ import annotations

import pandas as pd

from karma_pipelines.contracts.config_fields import compact_json, config_hash, diff_configs, flatten
from karma_pipelines.contracts.dependencies import references
from karma_pipelines.contracts.schema import CONFIG_SNAPSHOTS, DEPLOY_EVENT_TYPES, DEPLOY_RECORDS
from karma_pipelines.records.labels import DEFAULT_HORIZON, apply_rollback_labels


def deploy_tables_from_events(
    events: pd.DataFrame,
    horizon: pd.Timedelta = DEFAULT_HORIZON,
    as_of: pd.Timestamp | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(deploy_records, config_snapshots) from clean `karma_events` rows.

    Each component's deploys are diffed against its previous config in time order. The change
    request's text (`change.requested` with the same correlation id) becomes the message.
    """
    deploy_events = events[events["event_type"].isin(DEPLOY_EVENT_TYPES)].sort_values(
        ["ts", "record_id"], kind="stable"
    )
    requests = events[events["event_type"] == "change.requested"]
    request_text = requests["attrs"].map(lambda a: a.get("message", ""))
    messages = dict(zip(requests["correlation_id"], request_text, strict=True))
    previous: dict[str, dict] = {}
    deploys, snapshots = [], []
    for row in deploy_events.itertuples(index=False):
        attrs = row.attrs
        component = row.entity_id
        ctype, _, nickname = component.partition("/")
        config = attrs.get("config") or {}
        diff = diff_configs(previous.get(component), config)
        is_rollback = row.event_type == "deploy.rollback"
        deploy_id = attrs.get("deploy_id") or row.idempotency_key
        environment = attrs.get("environment") or (row.tags or {}).get("Environment", "default")
        deploys.append(
            {
                "deploy_id": deploy_id,
                "deployed_at": row.ts,
                "component": component,
                "component_type": ctype,
                "nickname": nickname,
                "environment": environment,
                "author": attrs.get("user") or "unknown",
                "action": "rollback" if is_rollback else attrs.get("action", "update"),
                "source": row.source or "unknown",
                "change_id": attrs.get("change_id") or row.correlation_id or deploy_id,
                "message": messages.get(row.correlation_id, "") or attrs.get("reason", ""),
                **diff.columns(),
                "outcome": attrs.get("status", "succeeded"),
                "is_rollback": is_rollback,
                "rolls_back": attrs.get("rolls_back") if is_rollback else None,
            }
        )
        snapshots.append(snapshot_row(deploy_id, row.ts, component, environment, config))
        previous[component] = config
    if not deploys:
        return DEPLOY_RECORDS.empty(), CONFIG_SNAPSHOTS.empty()
    records = apply_rollback_labels(pd.DataFrame(deploys), horizon=horizon, as_of=as_of)
    return DEPLOY_RECORDS.conform(records), CONFIG_SNAPSHOTS.conform(pd.DataFrame(snapshots))


def snapshot_row(
    deploy_id: str,
    ts,
    component: str,
    environment: str,
    config: dict,
    flat: dict | None = None,
    text: str | None = None,
    text_hash: str | None = None,
) -> dict:
    """One `config_snapshots` row of a config its source redacted where it read it (both sources do);
    `flat`, `text` and `text_hash`: the config's `flatten`, `compact_json` and `config_hash`, when the
    caller has them already."""
    flat = flatten(config) if flat is None else flat
    paths = sorted(flat)
    text = compact_json(config) if text is None else text
    return {
        "deploy_id": deploy_id,
        "captured_at": ts,
        "component": component,
        "component_type": component.partition("/")[0],
        "environment": environment,
        "config_hash": config_hash(config, text) if text_hash is None else text_hash,
        "config_json": text,
        "field_paths": paths,
        "n_fields": len(paths),
        "references": references(config, flat),
    }
