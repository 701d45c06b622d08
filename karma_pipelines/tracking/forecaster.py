"""Track a rollback-forecaster training in MLflow and gate its promotion to champion."""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb

from karma_pipelines.tracking.lightgbm_runs import RegisteredModel, gate_champion, log_and_register
from karma_pipelines.tracking.registry import PromotionDecision
from karma_pipelines.tracking.store import MlflowTarget
from karma_pipelines.training.metrics import calibration_table, evaluate
from karma_pipelines.training.rollback_forecaster import ForecasterRun, labels


@dataclass(frozen=True)
class TrackedForecaster:
    registered: RegisteredModel
    decision: PromotionDecision


def track_forecaster(
    target: MlflowTarget,
    run: ForecasterRun,
    tags: dict[str, str],
    dataset_source: str,
    extra_metrics: dict[str, dict[str, float]] | None = None,
) -> TrackedForecaster:
    """Log the run, register it as `challenger`, and make it `champion` only if it wins on the
    same holdout (the champion is re-scored on this run's test period)."""
    spec, test = run.spec, run.split.test
    registered = log_and_register(
        target,
        spec=spec,
        booster=run.booster,
        train_frame=run.split.train,
        test_frame=test,
        metrics={"test": run.metrics, "validation": run.validation_metrics, **(extra_metrics or {})},
        tables={
            "feature_importance": run.importance,
            "test_predictions": run.predictions,
            "calibration": calibration_table(run.predictions["label"], run.predictions["score"]),
        },
        tags={**tags, "model": spec.name, "split_at": run.split.split_at.isoformat()},
        dataset_source=dataset_source,
        extra_params={f"chosen.{k}": str(v) for k, v in run.chosen_params.items()},
    )

    def score_on_holdout(champion: lgb.Booster) -> dict[str, float]:
        missing = [f for f in champion.feature_name() if f not in test.columns]
        if missing:
            raise ValueError(f"champion needs features this run does not build: {missing}")
        scores = champion.predict(test[champion.feature_name()])
        return evaluate(labels(test, spec), scores)

    decision = gate_champion(target, registered, spec, run.metrics, score_on_holdout)
    return TrackedForecaster(registered, decision)
