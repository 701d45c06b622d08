"""What a user sees: links between the UIs follow their configured addresses, MLflow runs, models and
versions say what they are, Data Docs render offline, and a command that logs a model prints no noise."""

import re
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from karma_pipelines.defs.models import rollback_forecaster
from karma_pipelines.defs.resources import KarmaSourceResource, MlflowResource
from karma_pipelines.sources.base import World
from karma_pipelines.tracking.registry import CHALLENGER, version_by_alias
from karma_pipelines.tracking.store import EXPERIMENT_KIND, EXPERIMENT_KIND_TAG
from karma_pipelines.training.spec import load_spec
from tests.conftest import ROOT, SMALL_WORLD
from tests.synthetic import feature_table

MLFLOW_UI, DAGSTER_UI = "http://mlflow.test:5999", "http://dagster.test:3999"
# What MLflow, uv and Dagster used to print on every command that logs a model.
NOISE = re.compile(
    r"Creating initial MLflow database tables|Detected uv project|uv is not available|uv export failed"
    r"|Failed to resolve installed pip version|BetaWarning|backfill_policy|INFO mlflow|WARNING mlflow"
)


@pytest.fixture(scope="module")
def materialized(tmp_path_factory):
    """`rollback_forecaster` materialized by Dagster on a synthetic feature table, with both UIs'
    addresses configured (MLflow's on the resource, Dagster's by environment as `make ui` sets it)."""
    home = tmp_path_factory.mktemp("links")
    world = World(kind="events", root=home / "world")

    @dg.asset(name="rollback_features")
    def features():
        return feature_table(2000, seed=3)

    @dg.asset(name="karma_world")
    def karma_world():
        return world

    with pytest.MonkeyPatch.context() as env:
        env.setenv("KARMA_DAGSTER_UI_URL", DAGSTER_UI)
        result = dg.materialize(
            [features, karma_world, rollback_forecaster],
            resources={
                "karma_source": KarmaSourceResource(kind="events", path=str(world.root)),
                "mlflow_store": MlflowResource(home=str(home), ui_url=MLFLOW_UI),
            },
        )
    assert result.success
    store = MlflowResource(home=str(home), ui_url=MLFLOW_UI).target()
    store.activate()
    return result, store


def _pointer(result):
    [event] = [
        e for e in result.get_asset_materialization_events() if e.asset_key.path == ["rollback_forecaster"]
    ]
    return event.materialization.metadata


def test_dagster_links_to_mlflow_at_the_configured_address(materialized):
    result, store = materialized
    metadata = _pointer(result)
    run_id = result.output_for_node("rollback_forecaster")["run_id"]
    assert metadata["mlflow_run"].value.startswith(f"{MLFLOW_UI}/#/experiments/")
    assert metadata["mlflow_run"].value.endswith(f"/runs/{run_id}")
    assert metadata["mlflow_model"].value.startswith(f"{MLFLOW_UI}/#/models/")


def test_mlflow_run_links_back_and_says_what_ran(materialized):
    result, store = materialized
    client = store.client()
    run = client.get_run(result.output_for_node("rollback_forecaster")["run_id"])
    tags = run.data.tags
    assert tags["dagster.run_url"] == f"{DAGSTER_UI}/runs/{result.run_id}"
    assert re.fullmatch(r"rollback_forecaster · events:world · \d{4}-\d{2}-\d{2}", run.info.run_name)
    note = tags["mlflow.note.content"]
    assert "Trained on" in note and "Test metrics: roc_auc" in note
    assert "Promotion decision: **promote to champion** (no champion yet)" in note
    assert f"({DAGSTER_UI}/runs/{result.run_id})" in note  # a link in the description, too

    spec = load_spec("rollback_forecaster")
    version = version_by_alias(client, spec.registered_model_name, CHALLENGER)
    assert version.tags["dagster.run_url"] == tags["dagster.run_url"]
    assert "Test metrics: roc_auc" in version.description
    assert "Promotion decision: **promote to champion**" in version.description
    assert "LightGBM" in client.get_registered_model(spec.registered_model_name).description

    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.tags[EXPERIMENT_KIND_TAG] == EXPERIMENT_KIND


def test_logged_model_is_named_and_its_metrics_are_tied_to_the_test_dataset(materialized):
    result, store = materialized
    client = store.client()
    run = client.get_run(result.output_for_node("rollback_forecaster")["run_id"])
    [model] = client.search_logged_models([run.info.experiment_id])
    assert model.name == "rollback_forecaster"
    metrics = {m.key: m for m in model.metrics}
    for key in ("test_roc_auc", "test_capture_at_10", "baseline_random_capture_at_10"):
        assert metrics[key].dataset_name == "rollback_forecaster-test", key
    assert metrics["validation_roc_auc"].dataset_name == "rollback_forecaster-training"
    requirements = Path(model.artifact_location.removeprefix("file://"), "requirements.txt").read_text()
    assert {line.split("==")[0] for line in requirements.split()} >= {"lightgbm", "numpy", "pandas", "mlflow"}
    # Loading by alias is unchanged by the artifact's name.
    from karma_pipelines.tracking.lightgbm_runs import load_booster

    assert load_booster(store, load_spec("rollback_forecaster").registered_model_name, CHALLENGER) is not None


def test_data_docs_render_offline(tmp_path):
    from karma_pipelines.contracts.schema import KARMA_EVENTS
    from karma_pipelines.sources import read_event_log
    from karma_pipelines.validation import validate_table
    from tests.test_event_log import write_world
    from tests.test_validation import PARAMS

    docs = tmp_path / "karma_events.html"
    events = read_event_log(write_world(tmp_path / "world") / "events")
    validate_table(events, KARMA_EVENTS, PARAMS, docs_path=docs)  # with failing rows
    html = docs.read_text()
    assert "karma_events" in html
    assert not re.search(r"<link\b[^>]*href=[\"'](https?:)?//", html, re.IGNORECASE)
    assert not re.search(r"<script\b[^>]*src=", html, re.IGNORECASE)
    assert not re.search(r"<img\b[^>]*src=[\"'](https?:)?//", html, re.IGNORECASE)
    assert not re.search(r"url\([\"']?(https?:)?//", html, re.IGNORECASE)


def test_backtest_prints_no_mlflow_uv_or_dagster_noise(tmp_path):
    from karma_pipelines.simulator import SimulationConfig, simulate_world

    world = tmp_path / "world"
    simulate_world(world, SimulationConfig(**SMALL_WORLD))
    done = subprocess.run(
        [str(Path(sys.executable).parent / "karma-pipelines"), "backtest", "--events", str(world),
         "--home", str(tmp_path / "home")],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "MLflow run:" in done.stdout
    noise = [line for line in (done.stderr + done.stdout).splitlines() if NOISE.search(line)]
    assert not noise, "\n".join(noise)
