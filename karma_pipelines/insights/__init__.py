"""Insights that answer Karma users' questions from the deploy history (no Dagster here).

Each module has `compute(events, deploys, snapshots, as_of=None)` returning a small dataclass (its
tables, `numbers`, a markdown `summary`, `notes` on what it could not compute) and `plot(result, path)`
writing a PNG. They work from `deploy_records` / `config_snapshots` alone when there is no event log
(a Git source), and say what they cannot compute then.
"""

from karma_pipelines.insights import (
    change_failure_rate,
    churn_vs_incidents,
    config_longevity,
    config_runtime_drift,
    downstream_invalidations,
    first_deploy_validation,
)
from karma_pipelines.insights.common import InsightResult

INSIGHTS = {
    "downstream_invalidations": downstream_invalidations,
    "first_deploy_validation": first_deploy_validation,
    "config_runtime_drift": config_runtime_drift,
    "config_longevity": config_longevity,
    "churn_vs_incidents": churn_vs_incidents,
    "change_failure_rate": change_failure_rate,
}

__all__ = ["INSIGHTS", "InsightResult", *INSIGHTS]
