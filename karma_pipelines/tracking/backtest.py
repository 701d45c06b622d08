"""Log a backtest to MLflow like any training run (its own experiment; nothing is registered)."""

from __future__ import annotations

from pathlib import Path

from karma_pipelines.tracking.lightgbm_runs import log_and_register
from karma_pipelines.tracking.store import MlflowTarget
from karma_pipelines.training.metrics import calibration_table
from karma_pipelines.training.rollback_forecaster import ForecasterRun

BACKTEST_EXPERIMENT = "karma-backtest"


def log_backtest(home: Path, run: ForecasterRun, tables, source: str) -> str:
    """Returns the MLflow run URL."""
    target = MlflowTarget.local(home, experiment=BACKTEST_EXPERIMENT)
    logged = log_and_register(
        target,
        spec=run.spec,
        booster=run.booster,
        train_frame=run.split.train,
        test_frame=run.split.test,
        metrics={"test": run.metrics, "validation": run.validation_metrics},
        tables={
            "feature_importance": run.importance,
            "test_predictions": run.predictions,
            "calibration": calibration_table(run.predictions["label"], run.predictions["score"]),
        },
        tags={"kind": "backtest", "source": str(source), "split_at": run.split.split_at.isoformat()},
        dataset_source=str(source),
        register=False,
    )
    return logged.run_url
