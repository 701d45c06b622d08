"""Shared pytest configuration, and the whole-graph materializations every test module shares."""

import os
import shutil
import socket
from pathlib import Path

import dagster as dg
import pytest

ROOT = Path(__file__).resolve().parents[1]
# A world small enough for a fast run that still has rollbacks on both sides of every split.
SMALL_WORLD = {"components": 45, "days": 75, "seed": 11}


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "live_ui: starts the real Dagster and MLflow servers (`karma-pipelines ui`) and drives them over "
        "HTTP and with a headless Chromium (1.5-3 minutes); deselect with -m 'not live_ui'",
    )


@pytest.fixture(scope="session")
def simulated_pipeline(tmp_path_factory):
    """The whole asset graph (checks included) materialized once per session (per pytest-xdist worker
    that needs it: `--dist loadscope` keeps each module on one worker) on SMALL_WORLD, on a
    persistent Dagster instance in `<home>/dagster` and an MLflow store in `<home>`, as `make run` does.
    Yields (home, result). Tests that change the stores copy them first (`copy_stores`)."""
    from karma_pipelines.apps.home import ensure_instance
    from karma_pipelines.definitions import build_definitions
    from karma_pipelines.defs.resources import KarmaSourceResource, MlflowResource
    from karma_pipelines.defs.run import execute_all
    from karma_pipelines.tracking.store import DAGSTER_UI_URL_ENV

    home = tmp_path_factory.mktemp("karma")
    ensure_instance(home)
    # The UI ports are chosen now, as `make run` takes them from DAGSTER_PORT / MLFLOW_PORT: the links
    # written at materialization time must open where `karma-pipelines ui` will serve them.
    ports = free_ports(2)
    (home / "ui_ports").write_text(f"{ports[0]} {ports[1]}")
    mlflow = MlflowResource(home=str(home), ui_url=f"http://127.0.0.1:{ports[1]}")
    source = KarmaSourceResource(kind="simulator", path=str(home / "world"), **SMALL_WORLD)
    defs = build_definitions(source, mlflow, storage_dir=str(home / "dagster" / "storage"))
    with (
        pytest.MonkeyPatch.context() as env,
        dg.DagsterInstance.from_config(str(home / "dagster")) as instance,
    ):
        env.setenv(DAGSTER_UI_URL_ENV, f"http://127.0.0.1:{ports[0]}")
        result = execute_all(defs, instance, source)
    yield home, result


def free_ports(n: int) -> list[int]:
    """`n` distinct free TCP ports on 127.0.0.1."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def copy_stores(home: Path, to: Path) -> Path:
    """A copy of a pipeline home's MLflow store and Dagster storage (the world is shared read-only)."""
    to.mkdir(parents=True, exist_ok=True)
    shutil.copy(home / "mlflow.db", to / "mlflow.db")
    shutil.copytree(home / "mlartifacts", to / "mlartifacts")
    shutil.copytree(home / "dagster" / "storage", to / "storage")
    return to


@pytest.fixture(autouse=True)
def _home_environment_restored(monkeypatch):
    """`run` and `ui` point this process's DAGSTER_HOME / KARMA_HOME at their `--home` (the CLI process
    owns them): a test calling `main()` in process must not leak them into the next test."""
    for name in ("DAGSTER_HOME", "KARMA_HOME"):
        if name in os.environ:
            monkeypatch.setenv(name, os.environ[name])
        else:  # recorded as absent (setenv first: a bare delenv of a missing name records nothing)
            monkeypatch.setenv(name, "")
            monkeypatch.delenv(name)
