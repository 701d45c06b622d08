"""The karma-pipelines Dagster code location (loaded by workspace.yaml)."""

import os

import dagster as dg

from karma_pipelines.defs import checks, features, insights, models, suggester, validate
from karma_pipelines.defs.automation import (
    daily_schedule,
    git_commits_sensor,
    karma_event_files_sensor,
    karma_ingest_job,
    pipeline_job,
)
from karma_pipelines.defs.extract import EVENT_LOG_ASSETS, GIT_ASSETS
from karma_pipelines.defs.io import PartitionedPickleIOManager
from karma_pipelines.defs.resources import KarmaSourceResource, MlflowResource
from karma_pipelines.sources.git.layout import DEFAULT_LAYOUT

MODULES = [validate, features, models, suggester, checks, insights]


def source_from_environment() -> KarmaSourceResource:
    return KarmaSourceResource(
        kind=os.environ.get("KARMA_SOURCE_KIND", "simulator"),
        path=os.environ.get(
            "KARMA_SOURCE_PATH", os.path.join(os.environ.get("KARMA_HOME", ".karma"), "world")
        ),
        layout=os.environ.get("KARMA_GIT_LAYOUT", DEFAULT_LAYOUT),
        ref=os.environ.get("KARMA_GIT_REF") or None,
        state_dir=os.path.join(os.environ.get("KARMA_HOME", ".karma"), "git_state"),
        iac=os.environ.get("KARMA_IAC_PATH", ""),
    )


def build_definitions(
    source: KarmaSourceResource | None = None,
    mlflow_store: MlflowResource | None = None,
    storage_dir: str = "",
) -> dg.Definitions:
    """Definitions for one source (tests pass their own resources; the UI reads the environment).
    An event-log source gets the day-file partitions, the ingest job and its sensor; a Git source
    gets its commit sensor."""
    source = source or source_from_environment()
    is_git = source.kind == "git"
    extract = GIT_ASSETS if is_git else EVENT_LOG_ASSETS
    karma_pipeline_job = pipeline_job(with_event_files=not is_git)
    return dg.Definitions(
        assets=[*extract, *dg.load_assets_from_modules(MODULES)],
        asset_checks=dg.load_asset_checks_from_modules(MODULES),
        jobs=[karma_pipeline_job] if is_git else [karma_pipeline_job, karma_ingest_job],
        schedules=[daily_schedule(karma_pipeline_job)],
        sensors=[git_commits_sensor] if is_git else [karma_event_files_sensor],
        resources={
            "karma_source": source,
            "mlflow_store": mlflow_store
            or MlflowResource(
                tracking_uri=os.environ.get("MLFLOW_TRACKING_URI", ""),
                home=os.environ.get("KARMA_HOME", ".karma"),
            ),
            "io_manager": PartitionedPickleIOManager(base_dir=storage_dir),
        },
    )


defs = build_definitions()
