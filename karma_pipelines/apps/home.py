"""`--home` decides every store: the Dagster instance (`<home>/dagster`, with its run storage and the
IO manager's pickles), the MLflow store (`<home>/mlflow.db`, `<home>/mlartifacts`), the Great
Expectations Data Docs (`<home>/gx_docs`) and the Git source's state (`<home>/git_state`), whatever
DAGSTER_HOME or KARMA_HOME said before. Telemetry is off (Dagster's through the instance settings
written here, MLflow's through its opt-out variables)."""

from __future__ import annotations

import os
from pathlib import Path

from karma_pipelines.contracts.package_data import instance_settings_file
from karma_pipelines.profile import DAGSTER_PG_ENV, Profile, current_profile

TELEMETRY_OFF = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}


# The prod profile's instance storage: runs, event logs and schedules in PostgreSQL, the URL read from the
# environment when the instance loads (so no password is written into the file).
POSTGRES_STORAGE = f"""
# KARMA_PROFILE=prod: runs, event logs and schedules in PostgreSQL (dagster-postgres).
storage:
  postgres:
    postgres_url:
      env: {DAGSTER_PG_ENV}
"""


def instance_settings(profile: Profile | None = None) -> str:
    """The Dagster instance settings the package carries (telemetry off, one run at a time), with
    PostgreSQL storage under the prod profile."""
    text = instance_settings_file().read_text(encoding="utf-8")
    profile = profile or current_profile()
    return text + POSTGRES_STORAGE if profile.dagster_pg_url else text


def ensure_instance(home: str | Path) -> Path:
    """`<home>/dagster`, created with the package's instance settings (the profile's) when it has no
    dagster.yaml."""
    dagster_home = Path(home).resolve() / "dagster"
    dagster_home.mkdir(parents=True, exist_ok=True)
    settings = dagster_home / "dagster.yaml"
    if not settings.exists():
        settings.write_text(instance_settings(), encoding="utf-8")
    return dagster_home


def prepare_home(home: str | Path) -> Path:
    """`ensure_instance`, then point this process's DAGSTER_HOME and KARMA_HOME at the home and turn
    telemetry off. Returns the instance folder."""
    home = Path(home).resolve()
    dagster_home = ensure_instance(home)
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    os.environ["KARMA_HOME"] = str(home)
    os.environ.update(TELEMETRY_OFF)
    return dagster_home
