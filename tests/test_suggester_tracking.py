"""Tracking the suggester in MLflow (needs the generalised `log_and_register(..., id_column=...)`)."""

import inspect

import pytest

from karma_pipelines.tracking import lightgbm_runs

pytestmark = pytest.mark.skipif(
    "id_column" not in inspect.signature(lightgbm_runs.log_and_register).parameters,
    reason="log_and_register is not generalised yet (no id_column parameter)",
)


def test_first_suggester_becomes_champion_and_logs_names_only(tmp_path):
    from karma_pipelines.suggester import load_suggester_spec, train_suggester
    from karma_pipelines.suggester.synthetic import generate_world
    from karma_pipelines.suggester.tracking import track_suggester
    from karma_pipelines.tracking.registry import CHAMPION, version_by_alias
    from karma_pipelines.tracking.store import MlflowTarget

    target = MlflowTarget.local(tmp_path / "store", experiment="test")
    spec = load_suggester_spec()
    run = train_suggester(generate_world(300, seed=4).corpus(), spec)
    tracked = track_suggester(target, run, {"dagster.run_id": "r1"}, dataset_source="tests")
    assert tracked.decision.promote
    client = target.client()
    assert (
        str(version_by_alias(client, spec.registered_model_name, CHAMPION).version)
        == tracked.registered.version
    )
    logged = client.get_run(tracked.registered.run_id)
    assert "model_masked_optional_hit_at_5" in logged.data.metrics
    assert "baseline_masked_optional_hit_at_5" in logged.data.metrics
    assert logged.data.tags["suggester.code_evidence"] == "no"
    # A second, identical run is re-scored against the champion on its own holdout.
    second = track_suggester(target, run, {"dagster.run_id": "r2"}, dataset_source="tests")
    assert second.decision is not None
