"""The whole Dagster graph, materialized in process on a small simulated world with a real MLflow store."""

import dagster as dg
import mlflow.lightgbm
import numpy as np
import pandas as pd
import pytest
import yaml

from karma_pipelines.definitions import build_definitions, defs
from karma_pipelines.defs.resources import KarmaSourceResource, MlflowResource
from karma_pipelines.suggester import corpus_from_snapshots
from karma_pipelines.tracking.registry import CHAMPION, version_by_alias
from karma_pipelines.tracking.store import MlflowTarget
from karma_pipelines.training.explain import FLAGS, phrase
from tests.conftest import ROOT, SMALL_WORLD, copy_stores


def test_definitions_load():
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {
        "karma_world",
        "source_batches",
        "source_records",
        "clean_karma_events",
        "deploy_records",
        "config_snapshots",
        "quarantined_records",
        "rollback_features",
        "rollback_forecaster",
    } <= keys
    # The pipeline job is everything but the batches; the ingest job adds them (partitioned).
    job_assets = {
        k.to_user_string() for k in defs.resolve_job_def("karma_pipeline_job").asset_layer.selected_asset_keys
    }
    assert job_assets == keys - {"source_batches"}
    assert (
        defs.resolve_schedule_def("karma_daily_schedule").default_status == dg.DefaultScheduleStatus.STOPPED
    )


@pytest.fixture(scope="module")
def pipeline_run(simulated_pipeline):
    return simulated_pipeline


def test_every_asset_and_check_succeeds(pipeline_run):
    _, result = pipeline_run
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) == 9
    assert all(e.passed for e in evaluations), [
        (e.check_name, e.metadata) for e in evaluations if not e.passed
    ]


def test_every_planted_malformed_line_is_quarantined_and_nothing_else(pipeline_run):
    home, result = pipeline_run
    raw = result.output_for_node("source_records").events
    clean = result.output_for_node("validated_source_tables", "clean_karma_events")
    quarantined = result.output_for_node("validated_source_tables", "quarantined_records")
    events_q = quarantined[quarantined["table"] == "karma_events"]
    malformed = pd.read_csv(home / "world" / "ground_truth" / "malformed.csv")
    planted = set(malformed["file"] + ":" + malformed["line"].astype(str))
    assert set(events_q["record_id"]) == planted
    assert len(clean) + len(events_q) == len(raw)
    assert set(clean["record_id"]).isdisjoint(planted)


def test_model_is_logged_registered_and_champion(pipeline_run):
    home, result = pipeline_run
    pointer = result.output_for_node("rollback_forecaster")
    target = MlflowTarget.local(home)
    champion = version_by_alias(target.client(), pointer["name"], CHAMPION)
    assert str(champion.version) == pointer["version"] == "1"
    run = target.client().get_run(pointer["run_id"])
    assert run.data.tags["dagster.run_id"] == result.run_id
    assert run.data.tags["dagster.asset_key"] == "rollback_forecaster"
    assert pointer["metrics"]["roc_auc"] > 0.6
    mats = result.asset_materializations_for_node("rollback_forecaster")
    meta = mats[0].metadata
    assert isinstance(meta["test_roc_auc"], dg.FloatMetadataValue)
    mlflow_port = (home / "ui_ports").read_text().split()[1]  # the UI address the session configured
    assert meta["mlflow_run"].value.startswith(f"http://127.0.0.1:{mlflow_port}/#/experiments/")


def test_deploy_records_match_the_ground_truth(pipeline_run):
    home, result = pipeline_run
    deploys = result.output_for_node("validated_source_tables", "deploy_records")
    truth = pd.read_csv(home / "world" / "ground_truth" / "deploys.csv")
    ordinary = deploys[~deploys["is_rollback"]]
    assert set(ordinary["deploy_id"]) == set(truth["deploy_id"])
    joined = ordinary.merge(truth, on="deploy_id", suffixes=("", "_truth"))
    labelled = joined[joined["labelled"]]
    from_log = labelled["rolled_back"].astype(bool)
    # Every rollback the event log shows within the horizon is a rollback in the truth.
    assert labelled.loc[from_log, "rolled_back_truth"].astype(bool).all()
    # And every true rollback shows up in the log, within the horizon or after it.
    truly = joined["rolled_back_truth"].astype(bool)
    assert joined.loc[truly, "rolled_back_at"].notna().all()
    assert 0.03 < from_log.mean() < 0.3


def test_a_worse_challenger_never_becomes_champion(pipeline_run, tmp_path):
    home, _ = pipeline_run
    # A spec that sees only when and where (better than chance, worse than the champion).
    spec = yaml.safe_load((ROOT / "models/rollback_forecaster.yaml").read_text())
    spec["features"] = {"time": ["hour", "weekday", "is_weekend", "is_off_hours"], "place": ["env_prod"]}
    spec["categorical_features"] = []
    spec["lightgbm"]["candidates"] = []
    worse = tmp_path / "worse.yaml"
    worse.write_text(yaml.safe_dump(spec))

    # Only the model steps run again, on copies of the stores, from the features already materialized.
    stores = copy_stores(home, tmp_path / "stores")
    source = KarmaSourceResource(kind="simulator", path=str(home / "world"), **SMALL_WORLD)
    local = build_definitions(source, MlflowResource(home=str(stores)), storage_dir=str(stores / "storage"))
    models = [
        dg.AssetKey(k) for k in ("rollback_forecaster", "rollback_forecaster_champion", "deploy_risk_scores")
    ]
    with dg.instance_for_test() as instance:
        result = local.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance,
            asset_selection=models,
            run_config={"ops": {"rollback_forecaster": {"config": {"spec": str(worse)}}}},
            raise_on_error=False,
        )
    gate = {e.check_name: e for e in result.get_asset_check_evaluations()}
    check = gate["check_rollback_forecaster_challenger"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["decision"].value == "keep"
    # The run goes on with the champion it had: nothing is promoted, risk scores are still refreshed.
    assert result.success
    champion = result.output_for_node("rollback_forecaster_champion")
    assert champion["version"] == "1" and champion["challenger"] == "2"
    assert result.output_for_node("deploy_risk_scores")["score"].notna().all()

    client = MlflowTarget.local(stores).client()
    assert str(version_by_alias(client, "karma-rollback-forecaster", CHAMPION).version) == "1"
    assert str(version_by_alias(client, "karma-rollback-forecaster", "challenger").version) == "2"


def test_risk_scores_explain_recent_deploys(pipeline_run):
    home, result = pipeline_run
    scores = result.output_for_node("deploy_risk_scores")
    features = result.output_for_node("rollback_features")
    # Exactly the deploys whose outcome is not known yet, scored by the champion itself.
    pending = features[~features["labelled"] & ~features["is_rollback"]].set_index("deploy_id")
    assert set(scores["deploy_id"]) == set(pending.index)
    assert scores["score"].is_monotonic_decreasing
    MlflowTarget.local(home).activate()
    booster = mlflow.lightgbm.load_model("models:/karma-rollback-forecaster@champion")
    rows = pending.loc[scores["deploy_id"], booster.feature_name()]
    np.testing.assert_allclose(scores["score"], booster.predict(rows), rtol=1e-9)
    # The riskiest deploy's first reason is the feature that raised its score most (pred_contrib).
    contrib = booster.predict(rows.head(1), pred_contrib=True)[0, :-1]
    values = rows.iloc[0]
    raising = [
        (c, f) for c, f in zip(contrib, booster.feature_name(), strict=True)
        if c > 0 and not (f in FLAGS and values[f] == 0)  # an off flag is no reason
    ]  # fmt: skip
    top = max(raising)[1]
    assert scores["reasons"].iat[0].split("; ")[0] == phrase(top, float(values[top]))


def test_field_suggester_is_gated_registered_and_suggests(pipeline_run):
    home, result = pipeline_run
    pointer = result.output_for_node("config_field_suggester")
    champion = version_by_alias(MlflowTarget.local(home).client(), "karma-config-field-suggester", CHAMPION)
    assert pointer["version"] == "1" and champion.tags["promotion.decision"] == "promote"
    table = result.output_for_node("config_field_suggestions")
    assert list(table.columns) == ["component", "kind", "field", "score", "reason"]
    assert set(table["kind"]) == {"missing", "unused"}
    # A missing field is one the component's config does not set; an unused one it does set.
    corpus = corpus_from_snapshots(result.output_for_node("validated_source_tables", "config_snapshots"))
    fields = {c: set(f) for c, f in zip(corpus.configs["component"], corpus.fields, strict=True)}
    assert len(fields) == len(corpus)  # one config per component key
    present = [row.field in fields[row.component] for row in table.itertuples()]
    assert pd.Series(present).eq(table["kind"].eq("unused")).all()
