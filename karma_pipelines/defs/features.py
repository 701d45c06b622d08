"""Features: point-in-time rollback features, with a blocking no-leakage audit."""

import dagster as dg
import pandas as pd

from karma_pipelines.defs.metadata import markdown_table, records_table, table_metadata
from karma_pipelines.features import LABEL_COLUMNS, build_rollback_features
from karma_pipelines.features.leakage import point_in_time_violations

GROUP = "features"


@dg.asset(group_name=GROUP, kinds={"pandas"}, code_version="1", owners=["team:ml-platform"])
def rollback_features(
    context: dg.AssetExecutionContext, deploy_records: pd.DataFrame, config_snapshots: pd.DataFrame
) -> pd.DataFrame:
    """One row per deploy: change, history, people, graph and time features known before it."""
    features = build_rollback_features(deploy_records, config_snapshots)
    numeric = features.drop(columns=LABEL_COLUMNS)
    profile = numeric.describe().T[["mean", "std", "min", "max"]].rename_axis("feature").reset_index()
    context.add_output_metadata(
        {
            # The preview: the keys and label, and the first features (the profile has them all).
            **table_metadata(features, columns=[*LABEL_COLUMNS, *numeric.columns[:6]]),
            "features": numeric.shape[1],
            "labelled_rows": int(features["labelled"].sum()),
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
