"""The `promotion_strategies` asset: which promotion strategy leads to better production health, from
the event log only (library: `karma_pipelines.strategies`)."""

import dagster as dg
import pandas as pd

from karma_pipelines.defs.insights import insight_output
from karma_pipelines.sources.base import World
from karma_pipelines.strategies import report


@dg.asset(
    group_name="insights",
    kinds={"pandas", "scikitlearn", "matplotlib"},
    code_version="2",  # 2: geometric-mean time to restore, pooled outcome models
    owners=["team:ml-platform"],
)
def promotion_strategies(
    clean_karma_events: pd.DataFrame, deploy_records: pd.DataFrame, karma_world: World
) -> dg.Output[pd.DataFrame]:
    """Promotion strategies to prod (immediate, soak, clean streak, Friday evening, batch) and the
    production health each leads to over the following weeks (rollback rate, time to restore, drift):
    doubly robust off-policy estimates with 95% CIs per strategy, and the recommended policy."""
    result = report.compute(clean_karma_events, deploy_records, karma_world.end)
    output = insight_output(report, result, "promotion strategies")
    recommended = {"recommended_policy": dg.MetadataValue.text(result.recommended or "none")}
    return dg.Output(output.value, metadata={**recommended, **output.metadata})
