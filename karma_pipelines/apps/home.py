"""`--home` decides every store: the Dagster instance (`<home>/dagster`, with its run storage and the
IO manager's pickles), the MLflow store (`<home>/mlflow.db`, `<home>/mlartifacts`), the Great
Expectations Data Docs (`<home>/gx_docs`) and the Git source's state (`<home>/git_state`), whatever
DAGSTER_HOME or KARMA_HOME said before. Telemetry is off (Dagster's through the instance settings
written here, MLflow's through its opt-out variables)."""

from __future__ import annotations

import os
from pathlib import Path

from karma_pipelines.contracts.package_data import instance_settings_file

TELEMETRY_OFF = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}


def instance_settings() -> str:
    """The Dagster instance settings the package carries (telemetry off, one run at a time)."""
    return instance_settings_file().read_text(encoding="utf-8")


def ensure_instance(home: str | Path) -> Path:
    """`<home>/dagster`, created with the package's instance settings when it has no dagster.yaml."""
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
