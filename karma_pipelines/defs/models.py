"""Models: the LightGBM rollback forecaster, tracked and registered in MLflow."""

import dagster as dg
import pandas as pd

from karma_pipelines.defs.metadata import markdown_table, numbers
from karma_pipelines.defs.resources import KarmaSourceResource, MlflowResource
from karma_pipelines.tracking.forecaster import track_forecaster
from karma_pipelines.training.oracle import load_truth, oracle_metrics
from karma_pipelines.training.rollback_forecaster import train_forecaster
from karma_pipelines.training.spec import load_spec

GROUP = "models"


@dg.asset(group_name=GROUP, kinds={"lightgbm", "mlflow"}, code_version="1", owners=["team:ml-platform"])
def rollback_forecaster(
    context: dg.AssetExecutionContext,
    rollback_features: pd.DataFrame,
    karma_source: KarmaSourceResource,
    mlflow_store: MlflowResource,
) -> dg.Output[dict]:
    """Train on the past, test on the most recent period, log to MLflow, register as challenger,
    and promote to champion only when it beats the champion on the same holdout."""
    spec = load_spec("rollback_forecaster")
    run = train_forecaster(rollback_features, spec)
    tags = {
        "dagster.run_id": context.run_id,
        "dagster.asset_key": context.asset_key.to_user_string(),
        "dagster.code_version": "1",
        "source.kind": karma_source.kind,
    }
    world = karma_source.world()
    truth = load_truth(world.root)
    oracle = oracle_metrics(run.predictions, truth) if truth is not None else None
    tracked = track_forecaster(
        mlflow_store.target(),
        run,
        tags,
        dataset_source=str(world.root.resolve()),
        extra_metrics={"oracle": oracle} if oracle else None,
    )
    reg, decision = tracked.registered, tracked.decision
    metadata = {
        **numbers(run.metrics, "test_"),
        "train_rows": len(run.split.train),
        "test_rows": len(run.split.test),
        "best_iteration": run.best_iteration,
        "split_at": run.split.split_at.isoformat(),
        "registered_model": reg.name,
        "version": int(reg.version),
        "promoted_to_champion": decision.promote,
        "promotion_reason": decision.reason,
        "mlflow_run": dg.MetadataValue.url(reg.run_url),
        "mlflow_model": dg.MetadataValue.url(reg.model_url),
        "model_uri": reg.model_uri,
        "feature_importance": markdown_table(run.importance.head(15)),
    }
    if oracle:
        metadata.update(numbers(oracle, "oracle_"))
        metadata["roc_auc_vs_oracle"] = float(run.metrics["roc_auc"] / oracle["roc_auc"])
        metadata["capture_at_10_vs_oracle"] = float(run.metrics["capture_at_10"] / oracle["capture_at_10"])
    if decision.champion:
        metadata.update(numbers(decision.champion, "champion_"))
    pointer = {
        "name": reg.name,
        "version": reg.version,
        "run_id": reg.run_id,
        "model_uri": reg.model_uri,
        "run_url": reg.run_url,
        "champion": decision.promote,
        "metrics": run.metrics,
        "oracle_metrics": oracle,
    }
    return dg.Output(pointer, metadata=metadata)


@dg.asset_check(asset=rollback_forecaster, blocking=True)
def check_rollback_forecaster_beats_random(rollback_forecaster: dict) -> dg.AssetCheckResult:
    """A model that ranks no better than chance on the holdout is broken, whatever else it says."""
    m = rollback_forecaster["metrics"]
    passed = m["roc_auc"] > 0.5 and m["capture_at_10"] > 0.10
    return dg.AssetCheckResult(
        passed=passed, metadata={"roc_auc": float(m["roc_auc"]), "capture_at_10": float(m["capture_at_10"])}
    )
