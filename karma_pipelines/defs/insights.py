"""Insights: answers to Karma users' questions, as tables with their numbers, summary and plot."""

import base64
import tempfile
from pathlib import Path
from types import ModuleType

import dagster as dg
import pandas as pd

from karma_pipelines.defs.metadata import inline_markdown, numbers, records_table, table_metadata
from karma_pipelines.insights import change_failure_rate as cfr
from karma_pipelines.insights import churn_vs_incidents as churn
from karma_pipelines.insights import config_longevity as longevity
from karma_pipelines.insights import config_runtime_drift as drift
from karma_pipelines.insights import downstream_invalidations as invalidations
from karma_pipelines.insights import first_deploy_validation as first_deploy
from karma_pipelines.insights.common import InsightResult

GROUP = "insights"
META = {
    "group_name": GROUP,
    "kinds": {"pandas", "matplotlib"},
    "code_version": "1",
    "owners": ["team:ml-platform"],
}


def png_markdown(module: ModuleType, result: InsightResult, title: str) -> dg.MetadataValue:
    """The insight's plot, drawn to a temporary file and embedded as a base64 data URI."""
    with tempfile.TemporaryDirectory() as tmp:
        path = module.plot(result, Path(tmp) / "plot.png")
        encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    return dg.MetadataValue.md(f"![{title}](data:image/png;base64,{encoded})")


def insight_output(module: ModuleType, result: InsightResult, title: str) -> dg.Output[pd.DataFrame]:
    """The main table as the asset value; numbers, summary, tables, notes and the plot as metadata.

    Shown inline on the asset page: the summary (its leading paragraphs when long, the whole text in
    `summary_full`), the numbers and the tables (`MetadataValue.table`, rounded and redacted). The plot
    is a base64 PNG in markdown, which the UI shows only behind "[Show Markdown]"."""
    metadata: dict[str, dg.MetadataValue] = {
        **table_metadata(result.table, preview_rows=0),  # its rows: `table_<main>`
        **numbers(result.numbers),
        **inline_markdown("summary", result.summary),
        "plot": png_markdown(module, result, title),
    }
    for name, frame in result.tables().items():
        metadata[f"table_{name}"] = records_table(frame)
    if result.notes:
        metadata["notes"] = dg.MetadataValue.md("\n".join(f"- {n}" for n in result.notes))
    return dg.Output(result.table, metadata=metadata)


@dg.asset(**META)
def downstream_invalidations(
    clean_karma_events: pd.DataFrame, deploy_records: pd.DataFrame, config_snapshots: pd.DataFrame
) -> dg.Output[pd.DataFrame]:
    """Which changes caused the most downstream invalidations? One row per change, most first (from the
    event log; for a Git source, inferred from the dependency graph in config_snapshots)."""
    result = invalidations.compute(clean_karma_events, deploy_records, config_snapshots)
    return insight_output(invalidations, result, "downstream invalidations")


@dg.asset(**META)
def first_deploy_validation(
    clean_karma_events: pd.DataFrame, deploy_records: pd.DataFrame, config_snapshots: pd.DataFrame
) -> dg.Output[pd.DataFrame]:
    """Which component types (and components) fail validation on their first deploy? Rate per type with
    a 95% CI, beside the rate of later deploys (Git source: failed or rolled-back first deploys)."""
    result = first_deploy.compute(clean_karma_events, deploy_records, config_snapshots)
    return insight_output(first_deploy, result, "first-deploy failures")


@dg.asset(**META)
def config_runtime_drift(
    clean_karma_events: pd.DataFrame, deploy_records: pd.DataFrame, config_snapshots: pd.DataFrame
) -> dg.Output[pd.DataFrame]:
    """Drift between config and runtime by environment and component type: drifts, time to resolve
    (Kaplan–Meier, open drifts censored) and share of time drifted, also per week. Empty for Git."""
    result = drift.compute(clean_karma_events, deploy_records, config_snapshots)
    return insight_output(drift, result, "config/runtime drift")


@dg.asset(**META)
def config_longevity(
    clean_karma_events: pd.DataFrame, deploy_records: pd.DataFrame, config_snapshots: pd.DataFrame
) -> dg.Output[pd.DataFrame]:
    """Which config patterns (type, environment, fields set, safe categorical values) go with long times
    between rollbacks or failures? Rate ratios within type and environment, and a Kaplan–Meier curve."""
    result = longevity.compute(clean_karma_events, deploy_records, config_snapshots)
    return insight_output(longevity, result, "config longevity")


@dg.asset(**META)
def churn_vs_incidents(
    clean_karma_events: pd.DataFrame, deploy_records: pd.DataFrame, config_snapshots: pd.DataFrame
) -> dg.Output[pd.DataFrame]:
    """Config churn (deploys, fields touched) against incidents (failures, rollbacks) per component and
    week, with OLS and Poisson coefficients and 95% CIs clustered by component."""
    result = churn.compute(clean_karma_events, deploy_records, config_snapshots)
    return insight_output(churn, result, "churn vs incidents")


@dg.asset(**META)
def change_failure_rate(
    clean_karma_events: pd.DataFrame, deploy_records: pd.DataFrame, config_snapshots: pd.DataFrame
) -> dg.Output[pd.DataFrame]:
    """DORA-style deployment frequency, change failure rate and time to restore per environment and
    week (as Apache DevLake / Four Keys show them)."""
    result = cfr.compute(clean_karma_events, deploy_records, config_snapshots)
    return insight_output(cfr, result, "DORA")


INSIGHT_ASSETS = [
    downstream_invalidations,
    first_deploy_validation,
    config_runtime_drift,
    config_longevity,
    churn_vs_incidents,
    change_failure_rate,
]
