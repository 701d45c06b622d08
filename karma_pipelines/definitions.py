"""The karma-pipelines Dagster code location (loaded by workspace.yaml)."""

from __future__ import annotations

import os

import dagster as dg

from karma_pipelines.defs import checks, extract, features, models, validate
from karma_pipelines.defs.automation import git_commits_sensor, karma_daily_schedule, karma_pipeline_job
from karma_pipelines.defs.resources import KarmaSourceResource, MlflowResource
from karma_pipelines.sources.git.layout import DEFAULT_LAYOUT


def build_definitions(
    source: KarmaSourceResource | None = None, mlflow_store: MlflowResource | None = None
) -> dg.Definitions:
    """Definitions with the given resources (tests pass their own; the UI uses the environment)."""
    modules = [extract, validate, features, models, checks]
    return dg.Definitions(
        assets=dg.load_assets_from_modules(modules),
        asset_checks=dg.load_asset_checks_from_modules(modules),
        jobs=[karma_pipeline_job],
        schedules=[karma_daily_schedule],
        sensors=[git_commits_sensor],
        resources={
            "karma_source": source
            or KarmaSourceResource(
                kind=os.environ.get("KARMA_SOURCE_KIND", "simulator"),
                path=os.environ.get("KARMA_SOURCE_PATH", ".karma/world"),
                layout=os.environ.get("KARMA_GIT_LAYOUT", DEFAULT_LAYOUT),
                ref=os.environ.get("KARMA_GIT_REF") or None,
                state_dir=os.path.join(os.environ.get("KARMA_HOME", ".karma"), "git_state"),
            ),
            "mlflow_store": mlflow_store
            or MlflowResource(
                tracking_uri=os.environ.get("MLFLOW_TRACKING_URI", ""),
                home=os.environ.get("KARMA_HOME", ".karma"),
            ),
        },
    )


defs = build_definitions()
