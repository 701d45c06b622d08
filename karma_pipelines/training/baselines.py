"""Baselines scored on exactly the model's test deploys: random, parrot (repeat the component's last
outcome / its rollback rate so far) and logistic regression on change size and experience."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from karma_pipelines.training.metrics import evaluate

LOGISTIC_FEATURES = [
    "n_fields_touched",
    "lines_added",
    "lines_removed",
    "author_prior_deploys",
    "author_prior_deploys_on_component",
    "comp_prior_deploys",
]


def random_scores(test: pd.DataFrame, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random(len(test))


def parrot_scores(test: pd.DataFrame) -> np.ndarray:
    """Repeat the component's last outcome; ties broken by its rollback rate so far."""
    return test["last_deploy_rolled_back"].to_numpy() + 0.5 * test["comp_rollback_rate"].to_numpy()


def logistic_scores(train: pd.DataFrame, test: pd.DataFrame, target: str) -> np.ndarray:
    model = make_pipeline(FunctionTransformer(np.log1p), StandardScaler(), LogisticRegression(max_iter=1000))
    x_train = train[LOGISTIC_FEATURES].fillna(0).clip(lower=0)
    model.fit(x_train, train[target].astype(int))
    return model.predict_proba(test[LOGISTIC_FEATURES].fillna(0).clip(lower=0))[:, 1]


def baseline_scores(train: pd.DataFrame, test: pd.DataFrame, target: str) -> dict[str, np.ndarray]:
    return {
        "random": random_scores(test),
        "parrot": parrot_scores(test),
        "logistic": logistic_scores(train, test, target),
    }


def baseline_metrics(train: pd.DataFrame, test: pd.DataFrame, target: str) -> dict[str, dict[str, float]]:
    y = test[target].astype(int).to_numpy()
    return {name: evaluate(y, s) for name, s in baseline_scores(train, test, target).items()}


def ratios(model: dict[str, float], baselines: dict[str, dict[str, float]]) -> dict[str, float]:
    """model / baseline for capture@10% and PR-AUC (the figures the promotion and the issue use)."""
    out = {}
    for name, metrics in baselines.items():
        for key in ("capture_at_10", "pr_auc"):
            if metrics.get(key):
                out[f"{key}_vs_{name}"] = model[key] / metrics[key]
    return out
