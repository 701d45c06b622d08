"""The deployment profile: the one switch between the single-machine stack and the production one, read
here and nowhere else.

`KARMA_PROFILE=local` (the default): the Dagster instance on SQLite files under `<home>/dagster`, runs
in process, MLflow on `<home>/mlflow.db`, LightGBM in process (or on Dask when `KARMA_DASK_SCHEDULER`
is set).

`KARMA_PROFILE=prod`: the Dagster instance on PostgreSQL (`KARMA_DAGSTER_PG_URL`, written into the
instance's dagster.yaml as an `env:` reference, never as a value), runs with the multiprocess executor,
MLflow over HTTP (`MLFLOW_TRACKING_URI`, an `mlflow server` backed by PostgreSQL) and LightGBM on the
Dask cluster at `KARMA_DASK_SCHEDULER`. All three are required; `make run-prod` starts the servers and
sets them (`karma_pipelines.apps.prod`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

PROFILE_ENV = "KARMA_PROFILE"
DAGSTER_PG_ENV = "KARMA_DAGSTER_PG_URL"
TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
DASK_SCHEDULER_ENV = "KARMA_DASK_SCHEDULER"
PROFILES = ("local", "prod")
# What the prod profile needs, and what it is for.
PROD_SETTINGS = {
    DAGSTER_PG_ENV: "the Dagster instance's PostgreSQL database (postgresql://user@host:port/db)",
    TRACKING_URI_ENV: "the MLflow tracking server (http://host:port)",
    DASK_SCHEDULER_ENV: "the Dask scheduler LightGBM trains on (tcp://host:port)",
}
# How many steps the multiprocess executor runs at once (the machine's cores, at most 2 here).
MAX_CONCURRENT_STEPS = 2


class ProfileError(ValueError):
    """A profile that cannot run as configured (names the setting)."""


@dataclass(frozen=True)
class Profile:
    name: str = "local"
    dagster_pg_url: str = ""  # empty: SQLite under DAGSTER_HOME
    tracking_uri: str = ""  # empty: sqlite:///<home>/mlflow.db
    dask_scheduler: str = ""  # empty: LightGBM in process

    @property
    def multiprocess(self) -> bool:
        """Runs execute with Dagster's multiprocess executor (each step its own process)."""
        return self.name == "prod"

    def run_config(self) -> dict:
        """The executor part of a run's config."""
        if not self.multiprocess:
            return {}
        # Each step forks from a server that has imported the code location once (a fresh
        # interpreter per step would import Dagster, MLflow and LightGBM again every time).
        start = {"forkserver": {"preload_modules": ["karma_pipelines.definitions"]}}
        config = {"max_concurrent": MAX_CONCURRENT_STEPS, "start_method": start}
        return {"execution": {"config": {"multiprocess": config}}}

    def describe(self) -> dict[str, str]:
        """Where each store is, for a summary (the PostgreSQL URL without its password)."""
        return {
            "profile": self.name,
            "dagster_storage": _without_password(self.dagster_pg_url) or "sqlite",
            "executor": "multiprocess" if self.multiprocess else "in_process",
            "mlflow_tracking_uri": self.tracking_uri or "sqlite",
            "trainer": f"dask {self.dask_scheduler}" if self.dask_scheduler else "in_process",
        }


def current_profile(environ: dict[str, str] | None = None) -> Profile:
    """The profile `KARMA_PROFILE` selects, with its settings; a ProfileError names what is missing."""
    env = os.environ if environ is None else environ
    name = (env.get(PROFILE_ENV) or "local").strip().lower()
    if name not in PROFILES:
        raise ProfileError(f"{PROFILE_ENV}={name!r}: expected one of {', '.join(PROFILES)}")
    settings = {key: (env.get(key) or "").strip() for key in PROD_SETTINGS}
    if name == "prod":
        missing = [f"{key} ({what})" for key, what in PROD_SETTINGS.items() if not settings[key]]
        if missing:
            raise ProfileError(
                f"{PROFILE_ENV}=prod needs {'; '.join(missing)}: `make run-prod` starts the servers and "
                "sets them"
            )
    prod = name == "prod"
    # Under `local` MLFLOW_TRACKING_URI is not a setting: MLflow's own set_tracking_uri writes it into
    # the environment, so it would send a later run to whatever store was used last.
    return Profile(
        name=name,
        dagster_pg_url=settings[DAGSTER_PG_ENV] if prod else "",
        tracking_uri=settings[TRACKING_URI_ENV] if prod else "",
        dask_scheduler=settings[DASK_SCHEDULER_ENV],
    )


def _without_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True) if url else ""
