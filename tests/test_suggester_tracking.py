"""Tracking the suggester in MLflow: the same logging, registry and gate as the forecaster."""

import pytest


def test_first_suggester_becomes_champion_and_logs_names_only(tmp_path):
    from karma_pipelines.suggester import load_suggester_spec, train_suggester
    from karma_pipelines.suggester.synthetic import generate_world
    from karma_pipelines.suggester.tracking import track_suggester
    from karma_pipelines.tracking.registry import (
        CHAMPION,
        recorded_decision,
        settle_champion,
        version_by_alias,
    )
    from karma_pipelines.tracking.store import MlflowTarget

    target = MlflowTarget.local(tmp_path / "store", experiment="test")
    spec = load_suggester_spec()
    run = train_suggester(generate_world(300, seed=4).corpus(), spec)
    tracked = track_suggester(target, run, {"dagster.run_id": "r1"}, dataset_source="tests")
    assert tracked.decision.promote
    client = target.client()
    # Decided, not applied: the champion step moves the alias.
    assert version_by_alias(client, spec.registered_model_name, CHAMPION) is None
    settle_champion(client, spec.registered_model_name, tracked.registered.version)
    assert (
        str(version_by_alias(client, spec.registered_model_name, CHAMPION).version)
        == tracked.registered.version
    )
    logged = client.get_run(tracked.registered.run_id)
    assert "model_masked_optional_hit_at_5" in logged.data.metrics
    assert "baseline_masked_optional_hit_at_5" in logged.data.metrics
    assert logged.data.tags["suggester.code_evidence"] == "no"
    # The same data and code again: nothing new is registered, the recorded decision stands.
    same = track_suggester(target, run, {"dagster.run_id": "r2"}, dataset_source="tests")
    assert same.registered.unchanged and same.registered.version == tracked.registered.version
    assert same.decision.promote == tracked.decision.promote
    # New code (another code version), same data: a new version, re-scored against the champion on its
    # own holdout; the same model ties the champion on the same cases, and a tie promotes.
    tags = {"dagster.run_id": "r3", "dagster.code_version": "2"}
    second = track_suggester(target, run, tags, dataset_source="tests")
    assert not second.registered.unchanged and second.registered.version != tracked.registered.version
    assert second.decision.champion is not None
    assert second.decision.champion["optional_hit_at_5"] == pytest.approx(
        second.decision.challenger["optional_hit_at_5"]
    )
    assert second.decision.promote
    assert recorded_decision(client, spec.registered_model_name, second.registered.version).promote
