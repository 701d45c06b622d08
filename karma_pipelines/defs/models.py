"""Models: the LightGBM rollback forecaster, its champion gate, and the risk of recent deploys."""

from datetime import timedelta

import dagster as dg
import pandas as pd

from karma_pipelines.defs.metadata import markdown_table, numbers
from karma_pipelines.defs.resources import KarmaSourceResource, MlflowResource
from karma_pipelines.tracking.forecaster import challenge, track_forecaster
from karma_pipelines.tracking.lightgbm_runs import load_booster
from karma_pipelines.tracking.registry import CHAMPION, settle_champion
from karma_pipelines.training.baselines import baseline_scores, ratios
from karma_pipelines.training.explain import explain
from karma_pipelines.training.metrics import evaluate
from karma_pipelines.training.oracle import load_truth, oracle_metrics
from karma_pipelines.training.rollback_forecaster import TIME, model_population, train_forecaster
from karma_pipelines.training.rolling_origin import rolling_origin
from karma_pipelines.training.spec import load_spec

GROUP = "models"
META = {"group_name": GROUP, "code_version": "2", "owners": ["team:ml-platform"]}
SHOWN = ["roc_auc", "pr_auc", "brier", "capture_at_5", "capture_at_10", "capture_at_50"]


class ForecasterConfig(dg.Config):
    """Which model spec to train (a name under models/ or a path to a YAML file)."""

    spec: str = "rollback_forecaster"


def _comparison_table(scorers: dict[str, dict[str, float]]) -> pd.DataFrame:
    return pd.DataFrame([{"scorer": k, **{m: v[m] for m in SHOWN}} for k, v in scorers.items()])


@dg.asset(kinds={"lightgbm", "mlflow"}, **META)
def rollback_forecaster(
    context: dg.AssetExecutionContext,
    config: ForecasterConfig,
    rollback_features: pd.DataFrame,
    karma_source: KarmaSourceResource,
    mlflow_store: MlflowResource,
) -> dg.Output[dict]:
    """Train on the past and test on the most recent period (gap = label horizon), beside baselines
    and a rolling-origin backtest; log to MLflow and register the version as `challenger`."""
    spec = load_spec(config.spec)
    run = train_forecaster(rollback_features, spec)
    base_scores = baseline_scores(run.split.train, run.split.test, spec.target)
    labels = run.predictions["label"].to_numpy()
    baselines = {name: evaluate(labels, scores) for name, scores in base_scores.items()}
    world = karma_source.world()
    truth = load_truth(world.root) if world.kind == "events" else None
    oracle = oracle_metrics(run.predictions, truth) if truth is not None else None
    backtest = rolling_origin(rollback_features, spec)
    scorers = {"model": run.metrics, **baselines, **({"oracle": oracle} if oracle else {})}
    tags = {
        "dagster.run_id": context.run_id,
        "dagster.asset_key": context.asset_key.to_user_string(),
        "dagster.code_version": META["code_version"],
        "source.kind": karma_source.kind,
    }
    tracked = track_forecaster(
        mlflow_store.target(),
        run,
        tags,
        dataset_source=str(world.root.resolve()),
        extra_metrics={f"baseline_{k}": v for k, v in baselines.items()}
        | ({"oracle": oracle} if oracle else {})
        | {"ratio": ratios(run.metrics, baselines)},
        extra_tables={"backtest": backtest, "comparison": _comparison_table(scorers)},
        promote=False,
        curves={name: (labels, scores) for name, scores in base_scores.items()},
    )
    reg = tracked.registered
    metadata = {
        **numbers(run.metrics, "test_"),
        **numbers(ratios(run.metrics, baselines)),
        "train_rows": len(run.split.train),
        "test_rows": len(run.split.test),
        "best_iteration": run.best_iteration,
        "split_at": run.split.split_at.isoformat(),
        "chosen_params": str(run.chosen_params or "spec defaults"),
        "registered_model": reg.name,
        "version": int(reg.version),
        "alias": "challenger",
        "mlflow_run": dg.MetadataValue.url(reg.run_url),
        "mlflow_model": dg.MetadataValue.url(reg.model_url),
        "model_uri": reg.model_uri,
        "comparison": markdown_table(_comparison_table(scorers)),
        "rolling_origin": markdown_table(backtest, max_rows=40),
        "feature_importance": markdown_table(run.importance.head(15)),
    }
    if oracle:
        metadata.update(numbers(oracle, "oracle_"))
        metadata["roc_auc_vs_oracle"] = float(run.metrics["roc_auc"] / oracle["roc_auc"])
        metadata["capture_at_10_vs_oracle"] = float(run.metrics["capture_at_10"] / oracle["capture_at_10"])
    pointer = {
        "name": reg.name,
        "version": reg.version,
        "run_id": reg.run_id,
        "model_uri": reg.model_uri,
        "run_url": reg.run_url,
        "split_at": run.split.split_at.isoformat(),
        "spec": config.spec,
        "metrics": run.metrics,
        "baselines": baselines,
        "oracle_metrics": oracle,
    }
    return dg.Output(pointer, metadata=metadata)


@dg.asset_check(asset=rollback_forecaster, blocking=True)
def check_rollback_forecaster_beats_random(rollback_forecaster: dict) -> dg.AssetCheckResult:
    """A model that ranks no better than chance on the holdout is broken, whatever else it says."""
    m, r = rollback_forecaster["metrics"], rollback_forecaster["baselines"]["random"]
    passed = m["roc_auc"] > 0.5 and m["capture_at_10"] > r["capture_at_10"]
    return dg.AssetCheckResult(
        passed=passed,
        metadata={"roc_auc": float(m["roc_auc"]), "capture_at_10": float(m["capture_at_10"])},
    )


@dg.asset_check(asset=rollback_forecaster, blocking=True, additional_ins={"rollback_features": dg.AssetIn()})
def check_rollback_forecaster_challenger(
    rollback_forecaster: dict, rollback_features: pd.DataFrame, mlflow_store: MlflowResource
) -> dg.AssetCheckResult:
    """The challenger is at least as good as the champion on the same (latest) test window, by the
    promotion gate of models/rollback_forecaster.yaml. Blocks `rollback_forecaster_champion` if not."""
    p = rollback_forecaster
    spec = load_spec(p["spec"])
    population = model_population(rollback_features, spec)
    test = population[population[TIME] >= pd.Timestamp(p["split_at"])]
    decision = challenge(
        mlflow_store.target(), p["name"], p["version"], p["run_id"], spec, test, p["metrics"]
    )
    metadata = {"decision": "promote" if decision.promote else "keep", "reason": decision.reason}
    metadata.update(numbers({k: decision.challenger[k] for k in SHOWN}, "challenger_"))
    if decision.champion:
        metadata.update(numbers({k: decision.champion[k] for k in SHOWN}, "champion_"))
    # A challenger that loses is an expected outcome, not an incident: the check fails as a WARN, so
    # the champion asset still runs and keeps the current champion (the registry refuses to promote
    # a version whose recorded decision is not `promote`).
    severity = dg.AssetCheckSeverity.ERROR if decision.promote else dg.AssetCheckSeverity.WARN
    return dg.AssetCheckResult(passed=decision.promote, severity=severity, metadata=metadata)


@dg.asset(kinds={"mlflow"}, **META)
def rollback_forecaster_champion(rollback_forecaster: dict, mlflow_store: MlflowResource) -> dg.Output[dict]:
    """The `champion` alias after the gate: moved to the challenger when the gate promoted it, kept
    otherwise (a model that fails `check_rollback_forecaster_beats_random` stops the run before)."""
    p = rollback_forecaster
    version, moved, reason = settle_champion(mlflow_store.target().client(), p["name"], p["version"])
    return dg.Output(
        {"name": p["name"], "version": version, "alias": CHAMPION, "challenger": p["version"]},
        metadata={
            "version": int(version),
            "promoted": moved,
            "challenger_version": int(p["version"]),
            "reason": reason,
            "model_uri": f"models:/{p['name']}@{CHAMPION}",
        },
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
            "dagster/row_count": len(scored),
            "high_risk": int((scored["score"] >= 0.5).sum()),
            "mean_risk": float(scored["score"].mean()) if len(scored) else 0.0,
            "riskiest": markdown_table(scored.head(20), floatfmt=".3f"),
            "champion_version": int(rollback_forecaster_champion["version"]),
        },
    )
