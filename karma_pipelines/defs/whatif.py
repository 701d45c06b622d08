"""What-if and safe graph rewrites as an asset: `graph_rewrite_suggestions` (library:
`karma_pipelines/whatif/`)."""

import base64
import tempfile
from pathlib import Path

import dagster as dg
import pandas as pd

from karma_pipelines.defs.metadata import inline_markdown, records_table, table_metadata
from karma_pipelines.defs.resources import MlflowResource
from karma_pipelines.tracking.lightgbm_runs import load_booster
from karma_pipelines.tracking.registry import CHAMPION
from karma_pipelines.whatif.impact import WhatIfEngine
from karma_pipelines.whatif.report import plot_rewrites
from karma_pipelines.whatif.rewrite_report import rewrite_markdown, rewrites_table
from karma_pipelines.whatif.rewrites import suggest_rewrites
from karma_pipelines.whatif.risk import Forecaster

META = {
    "group_name": "insights",
    "kinds": {"pandas", "networkx"},
    "code_version": "1",
    "owners": ["team:ml-platform"],
}


@dg.asset(**META)
def graph_rewrite_suggestions(
    rollback_forecaster_champion: dict,
    clean_karma_events: pd.DataFrame,
    deploy_records: pd.DataFrame,
    config_snapshots: pd.DataFrame,
    mlflow_store: MlflowResource,
) -> dg.Output[pd.DataFrame]:
    """Safe rewrites of the dependency graph: repoint a reference to a healthier same-type,
    same-environment producer, or move a blue/green half's readers to the alias; no cycle, no
    environment crossing, no field the consumer reads missing. Each with its predicted effect (the
    what-if engine: invalidations per month before and after, the rewrite's own rollback risk)."""
    booster = load_booster(mlflow_store.target(), rollback_forecaster_champion["name"], CHAMPION)
    forecaster = Forecaster(booster, str(rollback_forecaster_champion["version"])) if booster else None
    engine = WhatIfEngine(deploy_records, config_snapshots, clean_karma_events, forecaster)
    found = suggest_rewrites(engine)
    table = rewrites_table(found)
    with tempfile.TemporaryDirectory() as tmp:
        png = plot_rewrites(found, Path(tmp) / "rewrites.png").read_bytes()
    picture = f"![graph rewrites](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"
    saved = float(table["invalidations_saved_per_month"].sum()) if len(table) else 0.0
    return dg.Output(
        table,
        metadata={
            **table_metadata(table, preview_rows=0),
            "rewrites": len(found),
            "invalidations_saved_per_month": saved,
            **inline_markdown("summary", rewrite_markdown(found)),
            "plot": dg.MetadataValue.md(picture),
            "top_rewrites": records_table(table.head(20), max_chars=120),
        },
    )
