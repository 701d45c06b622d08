"""Models: the LightGBM rollback forecaster, its champion gate, and the risk of recent deploys."""

from datetime import timedelta

import dagster as dg
import pandas as pd

from karma_pipelines.defs.gate import challenger_metadata, gated
from karma_pipelines.defs.metadata import markdown_table, numbers, records_table, table_metadata
from karma_pipelines.defs.resources import KarmaSourceResource, MlflowResource
from karma_pipelines.pipeline.forecaster import evaluate_forecaster
from karma_pipelines.sources.base import World
from karma_pipelines.tracking.forecaster import track_forecaster
from karma_pipelines.tracking.lightgbm_runs import load_booster
from karma_pipelines.tracking.registry import CHAMPION
from karma_pipelines.tracking.store import dagster_ui_url
from karma_pipelines.training.explain import explain
from karma_pipelines.training.metrics import METRIC_KEYS
from karma_pipelines.training.rollback_forecaster import TIME
from karma_pipelines.training.spec import load_spec

GROUP = "models"
META = {"group_name": GROUP, "code_version": "3", "owners": ["team:ml-platform"]}


class ForecasterConfig(dg.Config):
    """Which model spec to train (a name under models/ or a path to a YAML file)."""

    spec: str = "rollback_forecaster"


def dagster_tags(context: dg.AssetExecutionContext, code_version: str, world: World) -> dict[str, str]:
    """Tags that link an MLflow run (and its model version) back to the Dagster run and asset that made
    it: `dagster.run_url` opens the run in the Dagster UI (`$KARMA_DAGSTER_UI_URL`, set by `make ui`)."""
    return {
        "dagster.run_id": context.run_id,
        "dagster.run_url": f"{dagster_ui_url()}/runs/{context.run_id}",
        "dagster.asset_key": context.asset_key.to_user_string(),
        "dagster.code_version": code_version,
        "source.kind": world.kind,
    }


@dg.asset(kinds={"lightgbm", "mlflow"}, **META)
def rollback_forecaster(
    context: dg.AssetExecutionContext,
    config: ForecasterConfig,
    rollback_features: pd.DataFrame,
    karma_world: World,
    karma_source: KarmaSourceResource,
    mlflow_store: MlflowResource,
) -> dg.Output[dict]:
    """Train on the past and test on the most recent period (gap = label horizon), beside baselines
    and a rolling-origin backtest; log to MLflow, register the version as `challenger` and record
    the gate's decision against the champion on the same holdout."""
    spec = load_spec(config.spec)
    evaluation = evaluate_forecaster(
        rollback_features, spec, karma_source.horizon, karma_world, with_rolling_origin=True
    )
    run = evaluation.run
    tags = dagster_tags(context, META["code_version"], karma_world)
    tracked = track_forecaster(
        mlflow_store.target(), evaluation, tags, dataset_source=str(karma_world.root.resolve())
    )
    reg = tracked.registered
    metadata = {
        **numbers(run.metrics, "test_"),
        **numbers(evaluation.ratios()),
        "train_rows": len(run.split.train),
        "test_rows": len(run.split.test),
        "best_iteration": run.best_iteration,
        "split_at": run.split.split_at.isoformat(),
        "chosen_params": str(run.chosen_params or "spec defaults"),
        **challenger_metadata(tracked),
        "comparison": markdown_table(evaluation.comparison()),
        "rolling_origin": markdown_table(evaluation.rolling, max_rows=40),
        "feature_importance": markdown_table(run.importance.head(15)),
    }
    if evaluation.oracle:
        metadata.update(numbers(evaluation.oracle, "oracle_"))
    pointer = {
        "name": reg.name,
        "version": reg.version,
        "run_id": reg.run_id,
        "model_uri": reg.model_uri,
        "run_url": reg.run_url,
        "split_at": run.split.split_at.isoformat(),
        "spec": config.spec,
        "metrics": run.metrics,
        "baselines": evaluation.baselines,
        "oracle_metrics": evaluation.oracle,
    }
    return dg.Output(pointer, metadata=metadata)


@dg.asset_check(asset=rollback_forecaster, blocking=True)
def check_rollback_forecaster_beats_random(rollback_forecaster: dict) -> dg.AssetCheckResult:
    """A model that ranks no better than chance on the holdout is broken, whatever else it says."""
    m, r = rollback_forecaster["metrics"], rollback_forecaster["baselines"]["random"]
    passed = m["roc_auc"] > 0.5 and m["capture_at_10"] > r["capture_at_10"]
    return dg.AssetCheckResult(
        passed=passed,
        metadata={
            "roc_auc": float(m["roc_auc"]),
            "capture_at_10": float(m["capture_at_10"]),
            "random_capture_at_10": float(r["capture_at_10"]),
        },
        description=None
        if passed
        else f"ROC-AUC {m['roc_auc']:.3f} (must be > 0.5) and capture@10% {m['capture_at_10']:.3f} "
        f"(must beat random's {r['capture_at_10']:.3f})",
    )


check_rollback_forecaster_challenger, rollback_forecaster_champion = gated(
    rollback_forecaster, list(METRIC_KEYS), META
)


@dg.asset(
    kinds={"lightgbm", "pandas"},
    # The daily schedule refreshes it; the UI shows it as stale after a missed day, failed after two.
    freshness_policy=dg.FreshnessPolicy.time_window(
        fail_window=timedelta(hours=48), warn_window=timedelta(hours=26)
    ),
    **META,
)
def deploy_risk_scores(
    rollback_forecaster_champion: dict, rollback_features: pd.DataFrame, mlflow_store: MlflowResource
) -> dg.Output[pd.DataFrame]:
    """The champion's risk for every recent deploy whose outcome is not known yet, with its top reasons
    (LightGBM `pred_contrib` as sentences)."""
    booster = load_booster(mlflow_store.target(), rollback_forecaster_champion["name"], CHAMPION)
    recent = rollback_features[~rollback_features["labelled"] & ~rollback_features["is_rollback"]]
    if recent.empty:  # a history whose every label is final: show the latest deploys instead
        recent = rollback_features[~rollback_features["is_rollback"]].tail(50)
    scored = recent[["deploy_id", TIME, "component"]].join(explain(booster, recent))
    scored = scored.sort_values("score", ascending=False, ignore_index=True)
    return dg.Output(
        scored,
        metadata={
            **table_metadata(scored, preview_rows=0),
            "high_risk": int((scored["score"] >= 0.5).sum()),
            "mean_risk": float(scored["score"].mean()) if len(scored) else 0.0,
            "riskiest": records_table(scored.head(20), max_chars=120),  # the preview: riskiest first
            "champion_version": int(rollback_forecaster_champion["version"]),
        },
    )
