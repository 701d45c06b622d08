"""Off-policy estimates of each promotion strategy's production health: cross-fitted doubly robust
(augmented inverse propensity weighted, AIPW) means with cluster-robust normal intervals.

For strategy `s`, the value is the mean outcome had every evaluated promotion used `s`:
`psi_i(s) = m_s(x_i) + 1[S_i = s] / e_s(x_i) * (Y_i - m_s(x_i))`, averaged. The propensity
`e_s(x)` is a multinomial logistic regression of the class on the covariates (the author, one-hot, and
the blast radius); the outcome model `m_s(x)` a logistic (binary outcome) or ridge regression fitted
on the promotions of class `s`. Both are fitted on the other folds (cross-fitting, `FOLDS`), so a
unit's own outcome never fits its nuisance models. Either model being right keeps the estimate
consistent. Time to restore is a ratio (restore hours of rolled-back promotions over rollbacks): its
influence function is the delta method's. Standard errors sum the influence function within each prod
component (promotions of one component may be dependent), and for the rollback rate are at least
those of a binomial rate with a Laplace pseudo-count (a class with no rollback is not a sure 0);
effects are differences from the baseline (`immediate`), influence functions differenced unit by unit.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.stats import norm
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold
from threadpoolctl import threadpool_limits

from karma_pipelines.contracts.promotion_strategies import BASELINE, STRATEGIES

FOLDS = 5
CLIP = 0.02  # propensities are clipped below at this (and the clipped share reported)
MIN_ARM = 8  # fewer promotions of a class in a training fold: its outcome model is the fold mean
LEVEL = 0.95
MIN_CLASS = 20  # a class with fewer evaluated promotions is not estimated (its effect rests on models)


def design(frame: pd.DataFrame) -> np.ndarray:
    """Covariates: author one-hot, many dependents."""
    authors = pd.get_dummies(frame["author"].astype(str), dtype=float)
    return np.column_stack([authors.to_numpy(), frame["dependents"].astype(float).to_numpy()])


def _propensities(x: np.ndarray, treat: np.ndarray, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    out = np.full((len(test), len(STRATEGIES)), CLIP)
    seen = np.unique(treat[train])
    if len(seen) == 1:
        out[:, seen[0]] = 1.0
        return out
    model = LogisticRegression(C=1.0, max_iter=2000)
    model.fit(x[train], treat[train])
    out[:, model.classes_] = model.predict_proba(x[test])
    return out


def _outcome(x: np.ndarray, y: np.ndarray, binary: bool, fit: np.ndarray, test: np.ndarray) -> np.ndarray:
    if len(fit) < MIN_ARM or (binary and len(np.unique(y[fit])) < 2):
        return np.full(len(test), y[fit].mean() if len(fit) else y.mean())
    if binary:
        model = LogisticRegression(C=1.0, max_iter=2000).fit(x[fit], y[fit].astype(int))
        return model.predict_proba(x[test])[:, 1]
    return Ridge(alpha=1.0).fit(x[fit], y[fit]).predict(x[test])


def aipw(frame: pd.DataFrame, outcomes: dict[str, bool], seed: int = 0) -> dict[str, pd.DataFrame]:
    """Influence values `psi` (units x strategies) of each outcome column (name -> binary?), and the
    propensities (`_propensity`), cross-fitted over `FOLDS` folds."""
    x = design(frame)
    treat = frame["strategy"].map({s: i for i, s in enumerate(STRATEGIES)}).to_numpy()
    n = len(frame)
    e = np.zeros((n, len(STRATEGIES)))
    models = {name: np.zeros((n, len(STRATEGIES))) for name in outcomes}
    folds = KFold(n_splits=min(FOLDS, n), shuffle=True, random_state=seed)
    with warnings.catch_warnings(), threadpool_limits(1):  # one BLAS thread: small fits, shared cores
        warnings.simplefilter("ignore")  # convergence chatter of tiny folds
        for train, test in folds.split(x):
            e[test] = _propensities(x, treat, train, test)
            for name, binary in outcomes.items():
                y = frame[name].astype(float).to_numpy()
                for k in range(len(STRATEGIES)):
                    models[name][test, k] = _outcome(x, y, binary, train[treat[train] == k], test)
    clipped = np.clip(e, CLIP, None)
    out = {"_propensity": pd.DataFrame(e, columns=list(STRATEGIES), index=frame.index)}
    onehot = treat[:, None] == np.arange(len(STRATEGIES))[None, :]
    for name in outcomes:
        y = frame[name].astype(float).to_numpy()[:, None]
        m = models[name]
        psi = m + onehot / clipped * (y - m)
        out[name] = pd.DataFrame(psi, columns=list(STRATEGIES), index=frame.index)
    return out


def _se(psi: np.ndarray, clusters: np.ndarray) -> float:
    """Cluster-robust standard error of the mean of `psi` (units grouped by `clusters`)."""
    centred = psi - psi.mean()
    sums = pd.Series(centred).groupby(clusters).sum().to_numpy()
    n = len(psi)
    return float(np.sqrt((sums**2).sum()) / n)


def _binomial_floor(frame: pd.DataFrame, column: str) -> dict[str, float]:
    """Per class, the standard error of its rate with one pseudo-event in two pseudo-units (Laplace):
    the least uncertainty a rate of few events has (a class without any event is not a sure 0)."""
    out = {}
    for s in STRATEGIES:
        y = frame.loc[frame["strategy"] == s, column].astype(float)
        p = (y.sum() + 1) / (len(y) + 2)
        out[s] = float(np.sqrt(p * (1 - p) / (len(y) + 2)))
    return out


def _intervals(
    psi: pd.DataFrame, clusters: np.ndarray, outcome: str, floor: dict[str, float] | None = None
) -> list[dict]:
    z = norm.ppf(0.5 + LEVEL / 2)
    floor = floor or dict.fromkeys(STRATEGIES, 0.0)
    rows = []
    for s in STRATEGIES:
        value, se = float(psi[s].mean()), max(_se(psi[s].to_numpy(), clusters), floor[s])
        diff = (psi[s] - psi[BASELINE]).to_numpy()
        effect, se_effect = float(diff.mean()), _se(diff, clusters)
        if s != BASELINE:
            se_effect = max(se_effect, float(np.hypot(floor[s], floor[BASELINE])))
        rows.append({
            "outcome": outcome, "strategy": s, "value": value, "ci_low": value - z * se,
            "ci_high": value + z * se, "effect": effect, "effect_ci_low": effect - z * se_effect,
            "effect_ci_high": effect + z * se_effect,
        })  # fmt: skip
    return rows


def estimate_strategies(promotions: pd.DataFrame, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """One row per outcome and strategy (value, its interval, effect against the baseline and its
    interval, naive mean, promotions of the class); and diagnostics (clipped propensity share, n)."""
    rows: list[dict] = []
    diagnostics: dict[str, float | int] = {}
    evaluated = promotions[promotions["eligible"].astype(bool)].reset_index(drop=True)
    if len(evaluated) < 2 * FOLDS or evaluated["strategy"].nunique() < 2:
        return pd.DataFrame(rows), {"promotions_evaluated": len(evaluated)}
    restored = evaluated["rolled_back"].astype(float) * evaluated["restore_hours"].fillna(0.0)
    evaluated = evaluated.assign(restored=restored)  # restore hours, 0 when not rolled back
    fitted = aipw(evaluated, {"rolled_back": True, "restored": False}, seed)
    clusters = evaluated["component"].to_numpy()
    floor = _binomial_floor(evaluated, "rolled_back")
    rows += _intervals(fitted["rolled_back"], clusters, "rollback_rate", floor)
    if evaluated["rolled_back"].sum() >= 2 * FOLDS:  # time to restore: a ratio of two AIPW means
        num, den = fitted["restored"], fitted["rolled_back"]
        ratio = num.mean() / den.mean()
        rows += _intervals(ratio + (num - den * ratio) / den.mean(), clusters, "restore_hours")
    drifting = evaluated[evaluated["drift_eligible"].astype(bool)].reset_index(drop=True)
    if len(drifting) >= 2 * FOLDS and drifting["strategy"].nunique() >= 2:
        drift = aipw(drifting, {"drifts_per_week": False}, seed)
        rows += _intervals(drift["drifts_per_week"], drifting["component"].to_numpy(), "drifts_per_week")
    table = pd.DataFrame(rows)
    naive = {
        "rollback_rate": evaluated.groupby("strategy")["rolled_back"].mean(),
        "restore_hours": evaluated[evaluated["rolled_back"]].groupby("strategy")["restore_hours"].mean(),
        "drifts_per_week": drifting.groupby("strategy")["drifts_per_week"].mean(),
    }
    pairs = zip(table["outcome"], table["strategy"], strict=True)
    table["naive"] = [naive[o].get(s, np.nan) for o, s in pairs]  # the unadjusted mean of the class
    counts = evaluated["strategy"].value_counts()
    table["promotions"] = table["strategy"].map(counts).fillna(0).astype(int)
    if counts.get(BASELINE, 0) < MIN_CLASS:  # no baseline to compare with
        return pd.DataFrame(), {"promotions_evaluated": len(evaluated)}
    table = table[table["promotions"] >= MIN_CLASS].reset_index(drop=True)  # too few: not estimated
    propensity = fitted["_propensity"].to_numpy()
    diagnostics.update(
        promotions_evaluated=len(evaluated),
        promotions_drift=len(drifting),
        clipped_propensity_share=float((propensity < CLIP).mean()),
        min_propensity=float(propensity.min()),
    )
    return table, diagnostics
