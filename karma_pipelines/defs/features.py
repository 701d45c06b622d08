"""Features: point-in-time rollback features (appended for new deploys), with a blocking no-leakage
audit and a blocking check that the appended rows equal a full rebuild."""

import dagster as dg
import pandas as pd

from karma_pipelines.defs.metadata import markdown_table, records_table, table_metadata
from karma_pipelines.defs.previous import (
    IoManager,
    metadata_value,
    previous_materialization,
    previous_value,
)
from karma_pipelines.features import LABEL_COLUMNS
from karma_pipelines.features.appended import (
    append_rollback_features,
    differing_cells,
    recomputed_rows,
    rows_to_verify,
)
from karma_pipelines.features.leakage import point_in_time_violations

GROUP = "features"
CODE_VERSION = "2"
KEPT_SAMPLE = 20  # kept rows re-checked on every update, besides every appended row


@dg.asset(
    group_name=GROUP,
    kinds={"pandas"},
    code_version=CODE_VERSION,
    owners=["team:ml-platform"],
)
def rollback_features(
    context: dg.AssetExecutionContext,
    io_manager: IoManager,
    deploy_records: pd.DataFrame,
    config_snapshots: pd.DataFrame,
) -> pd.DataFrame:
    """One row per deploy: change, history, people, graph and time features known before it. Rows of
    deploys already in the previous materialization are kept (their features never change; labels are
    refreshed) and only new deploys' rows are computed, unless the history changed otherwise."""
    previous = previous_value(context, io_manager, context.asset_key, CODE_VERSION)
    appended = append_rollback_features(previous, deploy_records, config_snapshots)
    features = appended.features
    numeric = features.drop(columns=LABEL_COLUMNS)
    profile = numeric.describe().T[["mean", "std", "min", "max"]].rename_axis("feature").reset_index()
    context.add_output_metadata(
        {
            # The preview: the keys and label, and the first features (the profile has them all).
            **table_metadata(features, columns=[*LABEL_COLUMNS, *numeric.columns[:6]]),
            "features": numeric.shape[1],
            "labelled_rows": int(features["labelled"].sum()),
            "reused_rows": appended.reused_rows,
            "appended_rows": appended.appended_rows,
            "update": appended.reason,
            "profile": records_table(profile, max_rows=60),
        }
    )
    return features


@dg.asset_check(
    asset=rollback_features,
    blocking=True,
    additional_ins={"deploy_records": dg.AssetIn(), "config_snapshots": dg.AssetIn()},
)
def check_rollback_features_point_in_time(
    rollback_features: pd.DataFrame, deploy_records: pd.DataFrame, config_snapshots: pd.DataFrame
) -> dg.AssetCheckResult:
    """Recompute the features from the history cut at its midpoint: no earlier row may change."""
    times = deploy_records["deployed_at"]
    cutoff = times.min() + (times.max() - times.min()) / 2
    leaks = point_in_time_violations(deploy_records, config_snapshots, cutoff, full=rollback_features)
    return dg.AssetCheckResult(
        passed=leaks.empty,
        metadata={
            "cutoff": cutoff.isoformat(),
            "rows_compared": int((times < cutoff).sum()),
            "violations": len(leaks),
            "examples": markdown_table(leaks.head(10)),
        },
    )


@dg.asset_check(
    asset=rollback_features,
    blocking=True,
    additional_ins={"deploy_records": dg.AssetIn(), "config_snapshots": dg.AssetIn()},
)
def check_rollback_features_appended(
    context: dg.AssetCheckExecutionContext,
    rollback_features: pd.DataFrame,
    deploy_records: pd.DataFrame,
    config_snapshots: pd.DataFrame,
) -> dg.AssetCheckResult:
    """The rows the last update appended, and a sample of the rows it kept, equal the same rows of a
    full rebuild from the whole history (exactly, labels included)."""
    record = previous_materialization(context.instance, dg.AssetKey("rollback_features"))
    appended = int(metadata_value(record, "appended_rows") or 0)
    reused = int(metadata_value(record, "reused_rows") or 0)
    ids = rows_to_verify(rollback_features, appended if reused else 0, KEPT_SAMPLE)
    stored, fresh = recomputed_rows(deploy_records, config_snapshots, rollback_features, ids)
    differ = differing_cells(stored, fresh)
    return dg.AssetCheckResult(
        passed=differ.empty,
        metadata={
            "appended_rows_checked": min(appended, len(ids)) if reused else 0,
            "rows_checked": len(ids),
            "differing_cells": len(differ),
            "examples": markdown_table(differ.head(10)),
        },
        description=None
        if differ.empty
        else f"{differ['deploy_id'].nunique()} rows differ from a full rebuild "
        f"(columns {sorted(set(differ['column']))[:5]})",
    )
