"""Track a rollback-forecaster training in MLflow and gate its promotion to champion."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import lightgbm as lgb
import pandas as pd

from karma_pipelines.tracking.lightgbm_runs import RegisteredModel, challenge_champion, log_and_register
from karma_pipelines.tracking.registry import PromotionDecision, promote_to_champion
from karma_pipelines.tracking.store import MlflowTarget
from karma_pipelines.training.metrics import calibration_table, evaluate
from karma_pipelines.training.plots import calibration_plot, capture_curve_plot, importance_plot
from karma_pipelines.training.rollback_forecaster import ForecasterRun, labels
from karma_pipelines.training.spec import ModelSpec


@dataclass(frozen=True)
class TrackedForecaster:
    registered: RegisteredModel
    decision: PromotionDecision | None  # None when promotion is left to a later step


def track_forecaster(
    target: MlflowTarget,
    run: ForecasterRun,
    tags: dict[str, str],
    dataset_source: str,
    extra_metrics: dict[str, dict[str, float]] | None = None,
    extra_tables: dict | None = None,
    promote: bool = True,
    curves: dict[str, tuple] | None = None,
    register: bool = True,
) -> TrackedForecaster:
    """Log the run, register it as `challenger`, and make it `champion` only if it wins on the
    same holdout (the champion is re-scored on this run's test period). With `register` false the
    run is only logged (a backtest)."""
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
            **(extra_tables or {}),
        },
        tags={**tags, "model": spec.name, "split_at": run.split.split_at.isoformat()},
        dataset_source=dataset_source,
        extra_params={f"chosen.{k}": str(v) for k, v in run.chosen_params.items()},
        register=register,
        plots={
            "feature_importance": partial(importance_plot, run.importance),
            "calibration": partial(calibration_plot, run.predictions["label"], run.predictions["score"]),
            "capture_curve": partial(
                capture_curve_plot,
                {"model": (run.predictions["label"], run.predictions["score"]), **(curves or {})},
            ),
        },
    )

    if not (register and promote):
        return TrackedForecaster(registered, None)
    decision = challenge(
        target, registered.name, registered.version, registered.run_id, spec, test, run.metrics
    )
    if decision.promote:
        promote_to_champion(target.client(), registered.name, registered.version)
    return TrackedForecaster(registered, decision)


def challenge(
    target: MlflowTarget,
    name: str,
    version: str,
    run_id: str,
    spec: ModelSpec,
    test: pd.DataFrame,
    challenger_metrics: dict[str, float],
) -> PromotionDecision:
    """Compare a registered challenger with the champion on the challenger's test deploys."""

    def score_on_holdout(champion: lgb.Booster) -> dict[str, float]:
        missing = [f for f in champion.feature_name() if f not in test.columns]
        if missing:
            raise ValueError(f"champion needs features this run does not build: {missing}")
        return evaluate(labels(test, spec), champion.predict(test[champion.feature_name()]))

    return challenge_champion(
        target, name, version, run_id, spec.promotion, challenger_metrics, score_on_holdout
    )
