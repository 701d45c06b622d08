"""Track a rollback-forecaster evaluation in MLflow: log it, register it as `challenger`, and decide
its promotion with the one gate (the alias itself is moved by the champion step)."""

from __future__ import annotations

from functools import partial

import lightgbm as lgb

from karma_pipelines.pipeline.forecaster import ForecasterEvaluation
from karma_pipelines.tracking.gate import Tracked, challenge_champion
from karma_pipelines.tracking.lightgbm_runs import log_and_register
from karma_pipelines.tracking.store import MlflowTarget
from karma_pipelines.training.metrics import calibration_table, evaluate
from karma_pipelines.training.plots import calibration_plot, capture_curve_plot, importance_plot
from karma_pipelines.training.rollback_forecaster import labels


def track_forecaster(
    target: MlflowTarget,
    evaluation: ForecasterEvaluation,
    tags: dict[str, str],
    dataset_source: str,
    register: bool = True,
) -> Tracked:
    """Log the run (metrics of the model and of every other scorer, tables, plots, datasets, the
    model) and, with `register`, register it as `challenger` and decide its promotion: the champion
    is re-scored on this run's test deploys and the decision is recorded on the run and the version.
    Without `register` the run is only logged (a backtest)."""
    run = evaluation.run
    spec, test, predictions = run.spec, run.split.test, run.predictions
    others = {f"baseline_{k}": v for k, v in evaluation.baselines.items()}
    if evaluation.oracle:
        others["oracle"] = evaluation.oracle
    tables = {
        "feature_importance": run.importance,
        "test_predictions": predictions,
        "calibration": calibration_table(predictions["label"], predictions["score"]),
        "comparison": evaluation.comparison(),
    }
    if evaluation.rolling is not None:
        tables["backtest"] = evaluation.rolling
    curves = {name: (predictions["label"], s) for name, s in evaluation.baseline_scores.items()}
    registered = log_and_register(
        target,
        spec=spec,
        booster=run.booster,
        train_frame=run.split.train,
        test_frame=test,
        metrics={"test": run.metrics, "validation": run.validation_metrics, **others,
                 "ratio": evaluation.ratios()},
        tables=tables,
        tags={**tags, "model": spec.name, "split_at": run.split.split_at.isoformat()},
        dataset_source=dataset_source,
        extra_params={f"chosen.{k}": str(v) for k, v in run.chosen_params.items()},
        register=register,
        plots={
            "feature_importance": partial(importance_plot, run.importance),
            "calibration": partial(calibration_plot, predictions["label"], predictions["score"]),
            "capture_curve": partial(
                capture_curve_plot, {"model": (predictions["label"], predictions["score"]), **curves}
            ),
        },
    )  # fmt: skip
    if not register:
        return Tracked(registered, None)

    def score_on_holdout(champion: lgb.Booster) -> dict[str, float]:
        missing = [f for f in champion.feature_name() if f not in test.columns]
        if missing:
            raise ValueError(f"champion needs features this run does not build: {missing}")
        return evaluate(labels(test, spec), champion.predict(test[champion.feature_name()]))

    decision = challenge_champion(target, registered, spec.promotion, run.metrics, score_on_holdout)
    return Tracked(registered, decision)
