"""Cross-table consistency: a snapshot whose deploy was quarantined is quarantined too."""

from __future__ import annotations

import pandas as pd

from karma_pipelines.contracts.schema import QUARANTINED_RECORDS, column_isin


def quarantine_orphan_snapshots(
    snapshots: pd.DataFrame, deploys: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(kept snapshots, quarantine rows for snapshots with no clean deploy record)."""
    orphan = ~column_isin(snapshots["deploy_id"], deploys["deploy_id"])
    rows = snapshots[orphan]
    quarantine = pd.DataFrame(
        {
            "quarantine_id": "config_snapshots:" + rows["deploy_id"].astype(str),
            "table": "config_snapshots",
            "record_id": rows["deploy_id"].astype(str),
            "reasons": "orphan(deploy_id): its deploy record was quarantined",
            "n_reasons": 1,
            "record": rows.drop(columns=["field_paths", "references"])
            .to_json(orient="records", lines=True)
            .splitlines()
            if len(rows)
            else [],
        }
    )
    return snapshots[~orphan].reset_index(drop=True), QUARANTINED_RECORDS.conform(quarantine)
