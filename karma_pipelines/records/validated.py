"""Validate built deploy tables with their suites; failing rows (and orphaned snapshots) go to quarantine."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from karma_pipelines.contracts.schema import CONFIG_SNAPSHOTS, DEPLOY_RECORDS, QUARANTINED_RECORDS
from karma_pipelines.records.consistency import quarantine_orphan_snapshots
from karma_pipelines.validation import validate_table


@dataclass(frozen=True)
class ValidatedDeployTables:
    deploy_records: pd.DataFrame
    config_snapshots: pd.DataFrame
    quarantined: pd.DataFrame
    deploy_results: pd.DataFrame  # one row per expectation of the deploy_records suite
    snapshot_results: pd.DataFrame


def validate_deploy_tables(
    records: pd.DataFrame, snapshots: pd.DataFrame, parameters: dict
) -> ValidatedDeployTables:
    deploys = validate_table(records, DEPLOY_RECORDS, parameters)
    snaps = validate_table(snapshots, CONFIG_SNAPSHOTS, parameters)
    kept, orphans = quarantine_orphan_snapshots(snaps.clean, deploys.clean)
    quarantine = pd.concat([deploys.quarantined, snaps.quarantined, orphans], ignore_index=True)
    return ValidatedDeployTables(
        deploy_records=deploys.clean,
        config_snapshots=kept,
        quarantined=QUARANTINED_RECORDS.conform(quarantine),
        deploy_results=deploys.results,
        snapshot_results=snaps.results,
    )
