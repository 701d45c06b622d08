"""Log a backtest to MLflow like any training run (its own experiment; nothing is registered)."""

from __future__ import annotations

from pathlib import Path

from karma_pipelines.tracking.forecaster import track_forecaster
from karma_pipelines.tracking.store import MlflowTarget
from karma_pipelines.training.rollback_forecaster import ForecasterRun

BACKTEST_EXPERIMENT = "karma-backtest"


def log_backtest(home: Path, run: ForecasterRun, source: str) -> str:
    """Returns the MLflow run URL."""
    target = MlflowTarget.local(home, experiment=BACKTEST_EXPERIMENT)
    tracked = track_forecaster(
        target, run, {"kind": "backtest", "source": str(source)}, dataset_source=str(source), register=False
    )
    return tracked.registered.run_url
