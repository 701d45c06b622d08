"""MLflow tracking and the registry gate, on a real SQLite store in tmp_path."""

import json
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.types.utils import _infer_schema

from karma_pipelines.pipeline.forecaster import evaluate_forecaster
from karma_pipelines.sources.base import World
from karma_pipelines.tracking.forecaster import track_forecaster
from karma_pipelines.tracking.lightgbm_runs import pandas_dataset
from karma_pipelines.tracking.registry import (
    CHALLENGER,
    CHAMPION,
    decide_promotion,
    promote_to_champion,
    recorded_decision,
    settle_champion,
    version_by_alias,
)
from karma_pipelines.tracking.store import MlflowTarget
from karma_pipelines.training.spec import PromotionGate, load_spec
from tests.synthetic import feature_table

HORIZON = pd.Timedelta(days=7)


def evaluated(frame, spec):
    return evaluate_forecaster(frame, spec, HORIZON, World(kind="events", root=Path("tests")))


@pytest.fixture
def target(tmp_path):
    return MlflowTarget.local(tmp_path / "store", experiment="test")


def test_gate_rules():
    gate = PromotionGate(primary_metric="capture_at_10", min_primary_gain=0.0, pr_auc_tolerance=0.01)
    assert decide_promotion({"capture_at_10": 0.1, "pr_auc": 0.1}, None, gate).promote
    champ = {"capture_at_10": 0.5, "pr_auc": 0.4}
    assert decide_promotion({"capture_at_10": 0.5, "pr_auc": 0.395}, champ, gate).promote
    assert not decide_promotion({"capture_at_10": 0.49, "pr_auc": 0.9}, champ, gate).promote
    assert not decide_promotion({"capture_at_10": 0.6, "pr_auc": 0.38}, champ, gate).promote
    assert not decide_promotion({"capture_at_10": 0.6, "pr_auc": float("nan")}, champ, gate).promote
    assert not decide_promotion({"capture_at_10": float("nan"), "pr_auc": 0.5}, None, gate).promote


def test_first_model_becomes_champion_and_a_worse_one_never_does(target):
    spec = load_spec("rollback_forecaster")
    good = evaluated(feature_table(3000, seed=2), spec)
    first = track_forecaster(target, good, {"dagster.run_id": "run-1"}, dataset_source="tests")
    assert first.decision.promote and first.decision.reason == "no champion yet"
    client = target.client()
    # Decided and recorded by the gate; only the champion step moves the alias.
    assert version_by_alias(client, spec.registered_model_name, CHAMPION) is None
    recorded = recorded_decision(client, spec.registered_model_name, first.registered.version)
    assert (recorded.promote, recorded.reason) == (True, "no champion yet")
    assert recorded.challenger == pytest.approx(first.decision.challenger, rel=1e-5)
    assert settle_champion(client, spec.registered_model_name, first.registered.version)[1] is True
    assert (
        str(version_by_alias(client, spec.registered_model_name, CHAMPION).version)
        == first.registered.version
    )

    # Same table, so the same holdout, but blind to the features that carry the signal.
    blind = spec.without_groups("change", "time", "graph")
    bad = evaluated(feature_table(3000, seed=2), blind)
    second = track_forecaster(target, bad, {"dagster.run_id": "run-2"}, dataset_source="tests")
    assert not second.decision.promote
    version, moved, reason = settle_champion(client, spec.registered_model_name, second.registered.version)
    assert (version, moved) == (first.registered.version, False) and reason == second.decision.reason
    with pytest.raises(ValueError, match="cannot become champion"):
        promote_to_champion(client, spec.registered_model_name, second.registered.version)
    assert (
        str(version_by_alias(client, spec.registered_model_name, CHAMPION).version)
        == first.registered.version
    )
    assert (
        str(version_by_alias(client, spec.registered_model_name, CHALLENGER).version)
        == second.registered.version
    )

    # The decision and both scores are recorded in MLflow, on the run and on the version.
    run = client.get_run(second.registered.run_id)
    assert run.data.tags["promotion.decision"] == "keep"
    assert run.data.tags["dagster.run_id"] == "run-2"
    assert "champion_capture_at_10" in run.data.metrics and "test_capture_at_10" in run.data.metrics
    version = client.get_model_version(spec.registered_model_name, second.registered.version)
    assert version.tags["promotion.decision"] == "keep"


def test_logged_model_has_signature_example_and_datasets(target):
    spec = load_spec("rollback_forecaster")
    evaluation = evaluated(feature_table(2000, seed=3), spec)
    run = evaluation.run
    tracked = track_forecaster(target, evaluation, {"dagster.run_id": "r"}, dataset_source="tests")
    settle_champion(target.client(), spec.registered_model_name, tracked.registered.version)
    info = mlflow.models.get_model_info(f"models:/{spec.registered_model_name}@{CHAMPION}")
    assert info.signature is not None
    assert [c.name for c in info.signature.inputs.inputs] == spec.features
    assert info.saved_input_example_info is not None
    inputs = target.client().get_run(tracked.registered.run_id).inputs.dataset_inputs
    assert {i.tags[0].value for i in inputs} == {"training", "test"}
    # the logged schema names every column, and which have a missing value, as MLflow's own inference
    # says for the same frame
    test_rows = run.split.test
    logged = {i.tags[0].value: i.dataset for i in inputs}["test"]
    columns = {c["name"]: c for c in json.loads(logged.schema)["mlflow_colspec"]}
    assert list(columns)[1:] == [*spec.features, spec.target]
    for name in spec.features:
        assert columns[name]["required"] == (not test_rows[name].isna().any())
    small = test_rows[["deploy_id", *spec.features]].head(300).copy()
    small.iloc[7, 2] = None  # a missing value: that column is not required
    assert pandas_dataset(small, "tests", "t", None).schema == _infer_schema(small)
    loaded = mlflow.pyfunc.load_model(f"models:/{spec.registered_model_name}@{CHAMPION}")
    assert len(loaded.predict(run.split.test[spec.features].head(3))) == 3
