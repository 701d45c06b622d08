"""The karma-pipelines Dagster code location (loaded by workspace.yaml): one asset graph for every
source; the `karma_source` resource says which source it reads."""

import json
import os

import dagster as dg

from karma_pipelines.defs import (
    checks,
    extract,
    features,
    graph,
    insights,
    models,
    strategies,
    suggester,
    validate,
    whatif,
)
from karma_pipelines.defs.automation import (
    karma_daily_schedule,
    karma_ingest_job,
    karma_pipeline_job,
    karma_source_sensor,
)
from karma_pipelines.defs.io import PartitionedPickleIOManager
from karma_pipelines.defs.resources import KarmaSourceResource, MlflowResource
from karma_pipelines.profile import current_profile
from karma_pipelines.sources.git.layout import DEFAULT_LAYOUT
from karma_pipelines.tracking.store import MLFLOW_UI_URL_ENV

MODULES = [extract, validate, features, models, suggester, checks, insights, strategies, graph, whatif]


# The whole source resource as JSON: how a run's step processes (the multiprocess executor) get the
# source the run was started with (`source_environment`).
SOURCE_JSON_ENV = "KARMA_SOURCE_JSON"


def source_environment(source: KarmaSourceResource) -> dict[str, str]:
    """The environment that makes `source_from_environment` give back `source`."""
    return {SOURCE_JSON_ENV: json.dumps(source.model_dump(), sort_keys=True)}


def source_from_environment() -> KarmaSourceResource:
    if os.environ.get(SOURCE_JSON_ENV):
        return KarmaSourceResource(**json.loads(os.environ[SOURCE_JSON_ENV]))
    home = os.environ.get("KARMA_HOME", ".karma")
    return KarmaSourceResource(
        kind=os.environ.get("KARMA_SOURCE_KIND", "simulator"),
        path=os.environ.get("KARMA_SOURCE_PATH", os.path.join(home, "world")),
        layout=os.environ.get("KARMA_GIT_LAYOUT", DEFAULT_LAYOUT),
        ref=os.environ.get("KARMA_GIT_REF") or None,
        state_dir=os.path.join(home, "git_state"),
        iac=os.environ.get("KARMA_IAC_PATH", ""),
    )


def build_definitions(
    source: KarmaSourceResource | None = None,
    mlflow_store: MlflowResource | None = None,
    storage_dir: str = "",
) -> dg.Definitions:
    """Definitions with the given resources (tests pass their own; the UI reads the environment)."""
    return dg.Definitions(
        assets=dg.load_assets_from_modules(MODULES),
        asset_checks=dg.load_asset_checks_from_modules(MODULES),
        jobs=[karma_pipeline_job, karma_ingest_job],
        schedules=[karma_daily_schedule],
        sensors=[karma_source_sensor],
        resources={
            "karma_source": source or source_from_environment(),
            "mlflow_store": mlflow_store
            or MlflowResource(
                # the prod profile's server, else what `make ui` sets for its servers
                tracking_uri=current_profile().tracking_uri or os.environ.get("MLFLOW_TRACKING_URI", ""),
                home=os.environ.get("KARMA_HOME", ".karma"),
                ui_url=os.environ.get(MLFLOW_UI_URL_ENV, ""),  # `make ui` sets it from --mlflow-port
            ),
            "io_manager": PartitionedPickleIOManager(base_dir=storage_dir),
        },
    )


defs = build_definitions()
