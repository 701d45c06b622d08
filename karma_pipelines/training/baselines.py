"""Baselines scored on exactly the model's test deploys, all point-in-time (an outcome counts once its
revert landed or the horizon passed without one): random; the parrot (repeat the component's last
known outcome, ties broken by its known rollback rate); the component's known rollback rate; its
reverts in the last 30 days; logistic regression on change size, experience and the known rate."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

LOGISTIC_FEATURES = [
    "n_fields_touched",
    "lines_added",
    "lines_removed",
    "author_prior_deploys",
    "author_prior_deploys_on_component",
    "comp_prior_deploys",
    "comp_pit_rollback_rate",
    "comp_reverts_30d",
]


def random_scores(test: pd.DataFrame, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random(len(test))


def parrot_scores(test: pd.DataFrame) -> np.ndarray:
    """Repeat the component's last known outcome (none known: 0); ties broken by its known rate."""
    last = test["last_known_outcome"].fillna(0).to_numpy()
    return last + 0.5 * test["comp_pit_rollback_rate"].to_numpy()


def component_rate_scores(test: pd.DataFrame) -> np.ndarray:
    """The component's rollback rate over the outcomes known at deploy time."""
    return test["comp_pit_rollback_rate"].to_numpy()


def recent_reverts_scores(test: pd.DataFrame) -> np.ndarray:
    """Reverts of the component in the 30 days before the deploy; ties broken by its known rate."""
    return test["comp_reverts_30d"].to_numpy() + 0.01 * test["comp_pit_rollback_rate"].to_numpy()


def logistic_scores(train: pd.DataFrame, test: pd.DataFrame, target: str) -> np.ndarray:
    model = make_pipeline(FunctionTransformer(np.log1p), StandardScaler(), LogisticRegression(max_iter=1000))
    x_train = train[LOGISTIC_FEATURES].fillna(0).clip(lower=0)
    model.fit(x_train, train[target].astype(int))
    return model.predict_proba(test[LOGISTIC_FEATURES].fillna(0).clip(lower=0))[:, 1]


def baseline_scores(train: pd.DataFrame, test: pd.DataFrame, target: str) -> dict[str, np.ndarray]:
    return {
        "random": random_scores(test),
        "parrot": parrot_scores(test),
        "component_rate": component_rate_scores(test),
        "recent_reverts": recent_reverts_scores(test),
        "logistic": logistic_scores(train, test, target),
    }


def ratios(model: dict[str, float], baselines: dict[str, dict[str, float]]) -> dict[str, float]:
    """model / baseline for capture@10% and PR-AUC (the figures the promotion and the issue use)."""
    out = {}
    for name, metrics in baselines.items():
        for key in ("capture_at_10", "pr_auc"):
            if metrics.get(key):
                out[f"{key}_vs_{name}"] = model[key] / metrics[key]
    return out
