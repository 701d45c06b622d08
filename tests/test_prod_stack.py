"""The production profile for real: `apps.prod` starts PostgreSQL, an MLflow server on it and a Dask
LocalCluster of two workers; the pipeline runs there with the Dagster instance on PostgreSQL and the
multiprocess executor; LightGBM trains on Dask. Skipped, with the reason, only where PostgreSQL cannot be
run (not installed: `make test` installs it as root with apt)."""

import os
import shutil
import tempfile
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from karma_pipelines.apps.home import prepare_home
from karma_pipelines.apps.postgres import PostgresUnavailable, bin_dir, service_user
from karma_pipelines.apps.prod import PID_FILE, prod_dir, start_stack, stop_stack
from karma_pipelines.apps.ui import leftovers, read_pid_file
from karma_pipelines.definitions import defs
from karma_pipelines.defs.resources import KarmaSourceResource
from karma_pipelines.defs.run import run_pipeline
from karma_pipelines.profile import ProfileError, current_profile
from karma_pipelines.tracking.registry import CHAMPION, version_by_alias
from karma_pipelines.training.rollback_forecaster import train_forecaster
from karma_pipelines.training.spec import load_spec
from tests.conftest import SMALL_WORLD
from tests.synthetic import feature_table

FORECASTER = "karma-rollback-forecaster"
# The rollback forecaster and everything upstream of it, its gate and its champion: the insights and the
# suggester are the same graph's other branches (`make run-prod` runs them all).
FORECASTER_LINEAGE = list(
    dg.AssetSelection.assets("rollback_forecaster_champion")
    .upstream()
    .required_multi_asset_neighbors()  # the validation multi-asset is materialized whole
    .resolve(defs.resolve_asset_graph())
)
# Dask's model against the in-process one on the same split: data-parallel bagging draws from each
# worker's rows, so the trees differ a little (seen: 0.0018 of ROC-AUC on this table).
AUC_TOLERANCE = 0.02


def test_the_default_profile_is_local_and_prod_names_what_it_lacks():
    local = current_profile({})
    assert (local.name, local.dagster_pg_url, local.dask_scheduler, local.multiprocess) == (
        "local",
        "",
        "",
        False,
    )
    assert local.run_config() == {}
    with pytest.raises(ProfileError) as missing:
        current_profile({"KARMA_PROFILE": "prod", "MLFLOW_TRACKING_URI": "http://127.0.0.1:1"})
    assert "KARMA_DAGSTER_PG_URL" in str(missing.value) and "KARMA_DASK_SCHEDULER" in str(missing.value)
    assert "MLFLOW_TRACKING_URI" not in str(missing.value)
    with pytest.raises(ProfileError, match="expected one of local, prod"):
        current_profile({"KARMA_PROFILE": "staging"})


@pytest.fixture(scope="module")
def stack():
    """`make run-prod`'s stack in a fresh home (under /tmp, open to the `postgres` account when the
    tests run as root), stopped at the end; yields (home, settings)."""
    try:
        bin_dir()
        service_user()
    except PostgresUnavailable as exc:
        pytest.skip(f"PostgreSQL cannot run here: {exc}")
    home = Path(tempfile.mkdtemp(prefix="karma-prod-"))
    home.chmod(0o755)
    try:
        settings = start_stack(home)
        yield home, settings
    finally:
        stop_stack(home)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def prod_run(stack):
    """The forecaster's part of the graph on SMALL_WORLD under KARMA_PROFILE=prod (the settings
    `make run-prod` exports)."""
    home, settings = stack
    with pytest.MonkeyPatch.context() as env:
        for key, value in settings.items():
            env.setenv(key, value)
        for name in ("DAGSTER_HOME", "KARMA_HOME"):
            env.setenv(name, os.environ.get(name, ""))  # restored afterwards (prepare_home sets them)
        run_home = prod_dir(home)
        prepare_home(run_home)
        source = KarmaSourceResource(
            kind="simulator",
            path=str(run_home / "world"),
            state_dir=str(run_home / "git_state"),
            **SMALL_WORLD,
        )
        summary = run_pipeline(source, run_home, asset_selection=FORECASTER_LINEAGE)
        with dg.DagsterInstance.get() as instance:
            run = instance.get_run_by_id(summary["dagster_run_id"])
            storage = type(instance.run_storage).__name__
            logs = instance.all_logs(summary["dagster_run_id"])
            kinds = {e.dagster_event.event_type_value for e in logs if e.dagster_event is not None}
    yield settings, summary, run, storage, kinds


def test_the_pipeline_runs_on_postgres_with_the_multiprocess_executor(prod_run):
    settings, summary, run, storage, kinds = prod_run
    assert summary["success"], (summary["failed_steps"], summary["failed_checks"])
    assert storage == "PostgresRunStorage"
    assert run.status == dg.DagsterRunStatus.SUCCESS
    assert "STEP_WORKER_STARTED" in kinds  # steps ran in their own processes
    assert summary["profile"]["executor"] == "multiprocess"
    assert summary["profile"]["trainer"] == f"dask {settings['KARMA_DASK_SCHEDULER']}"


def test_the_champion_in_the_postgres_registry_is_the_version_the_pipeline_promoted(prod_run, stack):
    import psycopg2

    settings, summary, *_ = prod_run
    assert summary["promotion"]["promoted"], summary["promotion"]
    promoted = str(summary["assets"]["rollback_forecaster"]["version"])
    uri = settings["MLFLOW_TRACKING_URI"]
    client = MlflowClient(uri, registry_uri=uri)  # over HTTP (not the process's last registry)
    assert str(version_by_alias(client, FORECASTER, CHAMPION).version) == promoted
    assert summary["aliases"][FORECASTER]["champion"] == promoted
    # ... and the server keeps it in PostgreSQL, not in a file of its own.
    url = settings["KARMA_DAGSTER_PG_URL"].replace("+psycopg2", "").rsplit("/", 1)[0] + "/mlflow"
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT version FROM registered_model_aliases WHERE name = %s AND alias = %s",
                       (FORECASTER, CHAMPION))  # fmt: skip
        assert [str(v) for (v,) in cursor.fetchall()] == [promoted]
    # The model's files went through the server into its artifact destination.
    home, _ = stack
    models = list((prod_dir(home) / "mlartifacts").rglob("MLmodel"))
    assert models, "no logged model in the server's artifact destination"


def test_lightgbm_on_dask_matches_in_process_training_within_the_tolerance(stack):
    _, settings = stack
    spec = load_spec("rollback_forecaster")
    frame = feature_table(4000, seed=1)
    local = train_forecaster(frame, spec, pd.Timedelta(days=7), dask_scheduler="")
    dask = train_forecaster(
        frame, spec, pd.Timedelta(days=7), dask_scheduler=settings["KARMA_DASK_SCHEDULER"]
    )
    assert dask.best_iteration < spec.num_boost_round  # early stopping worked on the cluster
    assert list(dask.importance["feature"].sort_values()) == sorted(spec.features)
    assert abs(dask.metrics["roc_auc"] - local.metrics["roc_auc"]) <= AUC_TOLERANCE
    assert abs(dask.metrics["pr_auc"] - local.metrics["pr_auc"]) <= AUC_TOLERANCE
    assert dask.chosen_params == local.chosen_params  # the same candidate wins on validation


def test_stop_prod_leaves_none_of_its_processes(stack):
    home, _ = stack
    entries = read_pid_file(prod_dir(home), PID_FILE)
    assert set(entries) == {"postgres", "mlflow", "dask"}
    assert set(leftovers(entries)) == {"postgres", "mlflow", "dask"}  # each group has live members
    assert stop_stack(home) == 0
    assert leftovers(entries) == {}  # no live process in any of their process groups
    assert not (prod_dir(home) / PID_FILE).exists()
