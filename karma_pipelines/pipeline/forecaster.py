"""The rollback forecaster from features to an evaluated run: trained on the past, judged on the
future beside the baselines (and the oracle on a simulated world). The asset, `backtest` and the bench
all call `evaluate_forecaster`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from karma_pipelines.sources.base import World
from karma_pipelines.training.baselines import baseline_scores, ratios
from karma_pipelines.training.metrics import METRIC_KEYS, evaluate
from karma_pipelines.training.oracle import load_truth, oracle_metrics
from karma_pipelines.training.rollback_forecaster import ForecasterRun, train_forecaster
from karma_pipelines.training.rolling_origin import rolling_origin
from karma_pipelines.training.spec import ModelSpec
from karma_pipelines.training.uncertainty import bootstrap_ci, commit_view

BASELINES = ("random", "parrot", "component_rate", "recent_reverts", "logistic")


@dataclass
class ForecasterEvaluation:
    """A trained forecaster and every scorer judged on its test deploys."""

    run: ForecasterRun
    baselines: dict[str, dict[str, float]]
    baseline_scores: dict[str, np.ndarray]
    oracle: dict[str, float] | None  # the true probabilities, on a simulated world only
    rolling: pd.DataFrame | None = None  # rolling-origin backtest, when asked for
    # The per-commit view (a commit's score: the highest of its deploys'; rolled back: any of them).
    commit_level: dict[str, dict[str, float]] | None = None  # scorer -> metrics
    # Bootstrap 95% intervals: view ("deploy", "commit") -> scorer -> metric -> [low, high].
    intervals: dict[str, dict[str, dict[str, list[float]]]] | None = None

    def ratios(self) -> dict[str, float]:
        """The model against each baseline and, on a simulated world, the oracle."""
        out = ratios(self.run.metrics, self.baselines)
        if self.oracle:
            for key in ("roc_auc", "capture_at_10"):
                out[f"{key}_vs_oracle"] = float(self.run.metrics[key] / self.oracle[key])
        return out

    def commit_ratios(self) -> dict[str, float]:
        """The model against each baseline in the per-commit view."""
        if not self.commit_level:
            return {}
        others = {k: v for k, v in self.commit_level.items() if k != "model"}
        return ratios(self.commit_level["model"], others)

    def scorers(self) -> dict[str, dict[str, float]]:
        return {
            "model": self.run.metrics,
            **self.baselines,
            **({"oracle": self.oracle} if self.oracle else {}),
        }

    def comparison(self) -> pd.DataFrame:
        """One row per scorer with the headline metrics."""
        return pd.DataFrame(
            [{"scorer": name, **{k: m[k] for k in METRIC_KEYS}} for name, m in self.scorers().items()]
        )


def evaluate_forecaster(
    features: pd.DataFrame,
    spec: ModelSpec,
    horizon: pd.Timedelta,
    world: World,
    split_at: pd.Timestamp | None = None,
    with_rolling_origin: bool = False,
    resamples: int = 200,
) -> ForecasterEvaluation:
    """Train before `split_at` (default: the last `test_fraction` of time is the test period, after a
    gap of one label horizon) and evaluate every scorer on the same test deploys, per deploy and per
    commit, with bootstrap intervals (`resamples` of the rows; 0: none)."""
    run = train_forecaster(features, spec, horizon, split_at=split_at)
    scores = baseline_scores(run.split.train, run.split.test, spec.target)
    labels = run.predictions["label"].to_numpy()
    baselines = {name: evaluate(labels, s) for name, s in scores.items()}
    truth = load_truth(world.root) if world.truth_dir is not None else None
    oracle = oracle_metrics(run.predictions, truth) if truth is not None else None
    rolling = rolling_origin(features, spec, horizon) if with_rolling_origin else None
    test = run.split.test
    commits = test["change_id"] if "change_id" in test.columns else test["deploy_id"]
    every = {"model": run.predictions["score"].to_numpy(), **scores}
    commit_labels, commit_scores = commit_view(commits, labels, every)
    commit_level = {name: evaluate(commit_labels, s) for name, s in commit_scores.items()}
    intervals = None
    if resamples:
        intervals = {
            "deploy": {name: bootstrap_ci(labels, s, resamples) for name, s in every.items()},
            "commit": {name: bootstrap_ci(commit_labels, s, resamples) for name, s in commit_scores.items()},
        }
    return ForecasterEvaluation(run, baselines, scores, oracle, rolling, commit_level, intervals)


def pick(metrics: dict[str, float]) -> dict[str, float]:
    """The headline metrics of one scorer, in the public order."""
    return {k: metrics[k] for k in METRIC_KEYS}
