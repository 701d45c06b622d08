"""Off-policy estimates of each promotion strategy's production health: cross-fitted doubly robust
(augmented inverse propensity weighted, AIPW) means with cluster-robust intervals.

For strategy `s`, the value is the mean outcome had every evaluated promotion used `s`:
`psi_i(s) = m_s(x_i) + 1[S_i = s] / e_s(x_i) * (Y_i - m_s(x_i))`, averaged. The propensity
`e_s(x)` is a multinomial logistic regression of the class on the covariates (the author, one-hot, and
the blast radius). The outcome models of rollbacks (logistic) and of log restore hours (ridge, fitted
on the rolled-back) are pooled over the classes (covariates, class one-hot, class x blast radius):
an author's own level is learnt from all their promotions, not only from the handful of a class they
rarely use (per-class models shrink such an author to the class mean, which the weights then only
partly undo). Drift, with hundreds of windows in every class, has a ridge per class. All are fitted
on the other folds (cross-fitting, `FOLDS`), so a unit's own outcome never fits its nuisance models;
either model being right keeps the estimate consistent. Time to restore is the geometric mean over
the rolled-back, `exp(E[R log H] / E[R])` (`contracts.promotion_strategies`): the ratio's influence
function is the delta method's, its interval is exponentiated, and as its variance rests on the few
rollbacks of a class (a careful class has under ten per world) it takes a t quantile with that number
minus one degrees of freedom. Standard errors sum the influence function within each prod component
(promotions of one component may be dependent), and for the rollback rate are at least those of a
binomial rate with a Laplace pseudo-count (a class with no rollback is not a sure 0); effects are
differences from the baseline (`immediate`), influence functions differenced unit by unit.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.stats import norm
from scipy.stats import t as student_t
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold
from threadpoolctl import threadpool_limits

from karma_pipelines.contracts.promotion_strategies import BASELINE, MIN_RESTORE_HOURS, STRATEGIES

FOLDS = 5
CLIP = 0.02  # propensities are clipped below at this (and the clipped share reported)
MIN_ARM = 8  # fewer promotions of a class in a training fold: its outcome model is the fold mean
LEVEL = 0.95
C_FIT = 1.0  # inverse L2 penalty of the propensity and outcome models
MIN_CLASS = 20  # a class with fewer evaluated promotions is not estimated (its effect rests on models)


def design(frame: pd.DataFrame) -> np.ndarray:
    """Covariates: author one-hot, many dependents (the last column)."""
    authors = pd.get_dummies(frame["author"].astype(str), dtype=float)
    return np.column_stack([authors.to_numpy(), frame["dependents"].astype(float).to_numpy()])


def _with_class(x: np.ndarray, k: np.ndarray | int) -> np.ndarray:
    """The pooled outcome models' design: the covariates, the class one-hot and the class one-hot
    times the blast radius (each class its own level and its own blast-radius slope)."""
    onehot = (np.broadcast_to(k, len(x))[:, None] == np.arange(len(STRATEGIES))[None, :]).astype(float)
    return np.column_stack([x, onehot, onehot * x[:, -1:]])


def _propensities(x: np.ndarray, treat: np.ndarray, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    out = np.full((len(test), len(STRATEGIES)), CLIP)
    seen = np.unique(treat[train])
    if len(seen) == 1:
        out[:, seen[0]] = 1.0
        return out
    model = LogisticRegression(C=C_FIT, max_iter=5000)
    model.fit(x[train], treat[train])
    out[:, model.classes_] = model.predict_proba(x[test])
    return out


def _pooled(x: np.ndarray, treat: np.ndarray, y: np.ndarray, binary: bool, fit: np.ndarray,
            test: np.ndarray) -> np.ndarray:  # fmt: skip
    """Predictions under every class (test units x classes) of one outcome model fitted on the units
    `fit` of all classes: an author's own level is learnt from all their promotions."""
    if len(fit) < MIN_ARM or (binary and len(np.unique(y[fit])) < 2):
        return np.full((len(test), len(STRATEGIES)), y[fit].mean() if len(fit) else 0.0)
    if binary:
        model = LogisticRegression(C=C_FIT, max_iter=5000).fit(_with_class(x[fit], treat[fit]), y[fit])
        predict = lambda d: model.predict_proba(d)[:, 1]  # noqa: E731
    else:
        model = Ridge(alpha=1.0 / C_FIT).fit(_with_class(x[fit], treat[fit]), y[fit])
        predict = model.predict
    return np.column_stack([predict(_with_class(x[test], k)) for k in range(len(STRATEGIES))])


def _per_class(x: np.ndarray, y: np.ndarray, fit: np.ndarray, test: np.ndarray) -> np.ndarray:
    if len(fit) < MIN_ARM:
        return np.full(len(test), y[fit].mean() if len(fit) else y.mean())
    return Ridge(alpha=1.0).fit(x[fit], y[fit]).predict(x[test])


def aipw(frame: pd.DataFrame, outcomes: dict[str, str], seed: int = 0) -> dict[str, pd.DataFrame]:
    """Influence values `psi` (units x strategies) of each outcome column, and the propensities
    (`_propensity`), cross-fitted over `FOLDS` folds. `outcomes`: column -> its outcome model,
    `binary` (pooled logistic), `linear` (pooled ridge), `per_class` (a ridge per class) or
    `restore` (a ratio's numerator: rolled back times log hours, modelled as the pooled rollback
    probability times a pooled ridge of log hours fitted on the rolled-back units)."""
    x = design(frame)
    treat = frame["strategy"].map({s: i for i, s in enumerate(STRATEGIES)}).to_numpy()
    n = len(frame)
    e = np.zeros((n, len(STRATEGIES)))
    models = {name: np.zeros((n, len(STRATEGIES))) for name in outcomes}
    columns = {name: frame[name].astype(float).to_numpy() for name in outcomes}
    rolled = frame["rolled_back"].astype(float).to_numpy()
    log_restore = frame["log_restore"].to_numpy() if "restore" in outcomes.values() else rolled
    folds = KFold(n_splits=min(FOLDS, n), shuffle=True, random_state=seed)
    with warnings.catch_warnings(), threadpool_limits(1):  # one BLAS thread: small fits, shared cores
        warnings.simplefilter("ignore")  # convergence chatter of tiny folds
        for train, test in folds.split(x):
            e[test] = _propensities(x, treat, train, test)
            for name, kind in outcomes.items():
                y = columns[name]
                if kind == "per_class":
                    for k in range(len(STRATEGIES)):
                        models[name][test, k] = _per_class(x, y, train[treat[train] == k], test)
                elif kind == "restore":
                    p = _pooled(x, treat, rolled, True, train, test)
                    back = train[rolled[train] > 0]
                    models[name][test] = p * _pooled(x, treat, log_restore, False, back, test)
                else:
                    models[name][test] = _pooled(x, treat, y, kind == "binary", train, test)
    clipped = np.clip(e, CLIP, None)
    out = {"_propensity": pd.DataFrame(e, columns=list(STRATEGIES), index=frame.index)}
    onehot = treat[:, None] == np.arange(len(STRATEGIES))[None, :]
    for name in outcomes:
        y, m = columns[name][:, None], models[name]
        out[name] = pd.DataFrame(m + onehot / clipped * (y - m), columns=list(STRATEGIES), index=frame.index)
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


def _quantile(df: float | None) -> float:
    """The two-sided `LEVEL` quantile: normal, or Student's t with `df` degrees of freedom."""
    return float(norm.ppf(0.5 + LEVEL / 2) if df is None else student_t.ppf(0.5 + LEVEL / 2, max(df, 1)))


def _intervals(
    psi: pd.DataFrame,
    clusters: np.ndarray,
    outcome: str,
    floor: dict[str, float] | None = None,
    df: dict[str, float] | None = None,
) -> list[dict]:
    """Each strategy's value and effect with their intervals; `floor`: least standard errors,
    `df`: per class the degrees of freedom of a t quantile (effects: the smaller of the two)."""
    floor = floor or dict.fromkeys(STRATEGIES, 0.0)
    rows = []
    for s in STRATEGIES:
        value, se = float(psi[s].mean()), max(_se(psi[s].to_numpy(), clusters), floor[s])
        diff = (psi[s] - psi[BASELINE]).to_numpy()
        effect, se_effect = float(diff.mean()), _se(diff, clusters)
        if s != BASELINE:
            se_effect = max(se_effect, float(np.hypot(floor[s], floor[BASELINE])))
        z = _quantile(df[s] if df else None)
        z_effect = _quantile(min(df[s], df[BASELINE]) if df else None)
        rows.append({
            "outcome": outcome, "strategy": s, "value": value, "ci_low": value - z * se,
            "ci_high": value + z * se, "effect": effect, "effect_ci_low": effect - z_effect * se_effect,
            "effect_ci_high": effect + z_effect * se_effect,
        })  # fmt: skip
    return rows


def _geometric(
    num: pd.DataFrame, den: pd.DataFrame, clusters: np.ndarray, outcome: str, df: dict[str, float]
) -> list[dict]:
    """The geometric mean `exp(theta)`, `theta = E[R log Y] / E[R]` (mean log hours over the rolled
    back), from the influence values of numerator and denominator: `theta`'s by the delta method,
    its interval exponentiated; effects (differences of geometric means) from the linearised
    influence values `G (1 + psi_theta - theta)`."""
    theta = num.mean() / den.mean().where(den.mean() > 0)  # no rollbacks at all: no time to restore
    psi_theta = theta + (num - den * theta) / den.mean()
    on_log = {r["strategy"]: r for r in _intervals(psi_theta, clusters, outcome, df=df)}
    g = np.exp(theta)
    rows = _intervals(g * (1.0 + psi_theta - theta), clusters, outcome, df=df)
    for row in rows:
        log_row = on_log[row["strategy"]]
        row.update(value=float(g[row["strategy"]]), ci_low=float(np.exp(log_row["ci_low"])),
                   ci_high=float(np.exp(log_row["ci_high"])))  # fmt: skip
    return rows


def estimate_strategies(promotions: pd.DataFrame, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """One row per outcome and strategy (value, its interval, effect against the baseline and its
    interval, naive mean, promotions of the class); and diagnostics (clipped propensity share, n)."""
    rows: list[dict] = []
    diagnostics: dict[str, float | int] = {}
    evaluated = promotions[promotions["eligible"].astype(bool)].reset_index(drop=True)
    if len(evaluated) < 2 * FOLDS or evaluated["strategy"].nunique() < 2:
        return pd.DataFrame(rows), {"promotions_evaluated": len(evaluated)}
    rolled = evaluated["rolled_back"].astype(bool)
    log_restore = np.log(evaluated["restore_hours"].where(rolled).clip(lower=MIN_RESTORE_HOURS)).fillna(0.0)
    evaluated = evaluated.assign(log_restore=log_restore, restored_log=rolled * log_restore)
    fitted = aipw(evaluated, {"rolled_back": "binary", "restored_log": "restore"}, seed)
    clusters = evaluated["component"].to_numpy()
    floor = _binomial_floor(evaluated, "rolled_back")
    rows += _intervals(fitted["rolled_back"], clusters, "rollback_rate", floor)
    if rolled.sum() >= 2 * FOLDS:  # time to restore: exp of a ratio of two AIPW means
        # its variance rests on the few rollbacks of a class: a t quantile on their number - 1
        events = evaluated[rolled].groupby("strategy").size().reindex(list(STRATEGIES), fill_value=0)
        df = {s: float(n - 1) for s, n in events.items()}
        rows += _geometric(fitted["restored_log"], fitted["rolled_back"], clusters, "restore_hours", df)
    drifting = evaluated[evaluated["drift_eligible"].astype(bool)].reset_index(drop=True)
    if len(drifting) >= 2 * FOLDS and drifting["strategy"].nunique() >= 2:
        drift = aipw(drifting, {"drifts_per_week": "per_class"}, seed)
        rows += _intervals(drift["drifts_per_week"], drifting["component"].to_numpy(), "drifts_per_week")
    table = pd.DataFrame(rows)
    naive = {
        "rollback_rate": evaluated.groupby("strategy")["rolled_back"].mean(),
        "restore_hours": np.exp(evaluated[rolled].groupby("strategy")["log_restore"].mean()),
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
