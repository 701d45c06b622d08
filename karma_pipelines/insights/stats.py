"""Small statistics written with numpy/scipy: Kaplan–Meier, Wilson intervals, rate ratios, Poisson GLM."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

Z95 = float(stats.norm.ppf(0.975))


# -- survival -----------------------------------------------------------------------------------------


def kaplan_meier(durations, observed) -> pd.DataFrame:
    """The Kaplan–Meier estimate at each distinct time with an event or a censoring.

    `observed` is True for an event, False for a censored duration. At a tie, events happen before
    censorings (the usual convention). Greenwood's variance gives a log-log 95% interval.
    Columns: time, at_risk, events, censored, survival, se, ci_low, ci_high."""
    t = np.asarray(durations, dtype=float)
    e = np.asarray(observed, dtype=bool)
    keep = np.isfinite(t)
    t, e = t[keep], e[keep]
    cols = ["time", "at_risk", "events", "censored", "survival", "se", "ci_low", "ci_high"]
    if t.size == 0:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in cols})
    times = np.unique(t)
    events = np.array([np.sum(e & (t == x)) for x in times], dtype=float)
    total = np.array([np.sum(t == x) for x in times], dtype=float)
    at_risk = t.size - np.concatenate([[0.0], np.cumsum(total)[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        survival = np.cumprod(1.0 - events / at_risk)
        terms = np.where(at_risk > events, events / (at_risk * (at_risk - events)), np.inf)
        greenwood = np.cumsum(np.where(events > 0, terms, 0.0))
        se = survival * np.sqrt(greenwood)
        # log(-log S) interval (stays inside [0, 1]).
        log_s = np.log(survival)
        half = Z95 * np.sqrt(greenwood) / np.abs(log_s)
        lo = np.exp(-np.exp(np.log(-log_s) + half))
        hi = np.exp(-np.exp(np.log(-log_s) - half))
    se = np.where(survival > 0, se, 0.0)
    lo = np.where((survival > 0) & (survival < 1), lo, survival)
    hi = np.where((survival > 0) & (survival < 1), hi, survival)
    return pd.DataFrame(
        {
            "time": times,
            "at_risk": at_risk.astype(int),
            "events": events.astype(int),
            "censored": (total - events).astype(int),
            "survival": survival,
            "se": se,
            "ci_low": lo,
            "ci_high": hi,
        }
    )


def km_median(km: pd.DataFrame) -> float:
    """The first time at which survival falls to 0.5 or below (NaN when it never does)."""
    below = km.loc[km["survival"] <= 0.5, "time"]
    return float(below.iloc[0]) if len(below) else float("nan")


def km_survival_at(km: pd.DataFrame, time: float) -> float:
    """S(time) from a Kaplan–Meier table (1 before the first time)."""
    before = km.loc[km["time"] <= time, "survival"]
    return float(before.iloc[-1]) if len(before) else 1.0


# -- proportions and rates ----------------------------------------------------------------------------


def wilson_interval(k: float, n: float, z: float = Z95) -> tuple[float, float]:
    """95% Wilson score interval of a proportion k/n (NaN, NaN when n == 0)."""
    if n <= 0:
        return float("nan"), float("nan")
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if k <= 0 else max(0.0, centre - half)
    hi = 1.0 if k >= n else min(1.0, centre + half)
    return float(lo), float(hi)


def benjamini_hochberg(p_values) -> np.ndarray:
    """Benjamini–Hochberg q-values (NaN p-values stay NaN and are not counted)."""
    p = np.asarray(p_values, dtype=float)
    q = np.full_like(p, np.nan)
    ok = np.isfinite(p)
    m = int(ok.sum())
    if m == 0:
        return q
    order = np.argsort(p[ok])
    ranked = p[ok][order] * m / np.arange(1, m + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    values = np.empty(m)
    values[order] = np.minimum(ranked, 1.0)
    q[ok] = values
    return q


# -- regression ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegressionFit:
    """A fitted regression with model-based and cluster-robust standard errors.

    `link` is "log" (Poisson: exp(coef) is an incidence rate ratio) or "identity" (OLS)."""

    link: str
    terms: list[str]
    coef: np.ndarray
    se: np.ndarray  # model-based (inverse Fisher information; OLS: classical)
    robust_se: np.ndarray  # cluster-robust sandwich (with G/(G-1)); HC-robust when no clusters
    n: int
    clusters: int
    converged: bool
    deviance: float  # Poisson deviance, or the residual sum of squares
    null_deviance: float

    def table(self, use_robust: bool = True) -> pd.DataFrame:
        """One row per term: coefficient, errors, 95% CI, p-value (normal), and for the log link the
        rate ratio exp(coef) with its CI."""
        se = self.robust_se if use_robust else self.se
        with np.errstate(divide="ignore", invalid="ignore"):
            z = self.coef / se
        lo, hi = self.coef - Z95 * se, self.coef + Z95 * se
        log = self.link == "log"
        nan = np.full(len(self.coef), np.nan)
        return pd.DataFrame(
            {
                "term": self.terms,
                "coef": self.coef,
                "se": self.se,
                "robust_se": self.robust_se,
                "ci_low": lo,
                "ci_high": hi,
                "irr": np.exp(self.coef) if log else nan,
                "irr_ci_low": np.exp(lo) if log else nan,
                "irr_ci_high": np.exp(hi) if log else nan,
                "p_value": 2 * stats.norm.sf(np.abs(z)),
            }
        )


def _sandwich(bread: np.ndarray, scores: np.ndarray, clusters) -> tuple[np.ndarray, int]:
    """Cluster-robust standard errors from the bread (inverse information) and per-row scores."""
    n, k = scores.shape
    if clusters is None:
        groups, g = scores, n
    else:
        codes = pd.factorize(pd.Series(np.asarray(clusters)))[0]
        g = int(codes.max()) + 1 if len(codes) else 0
        groups = np.zeros((g, k))
        np.add.at(groups, codes, scores)
    meat = groups.T @ groups
    correction = g / (g - 1) if g > 1 else 1.0
    return np.sqrt(np.clip(np.diag(bread @ meat @ bread) * correction, 0, None)), g


def _deviance(y: np.ndarray, mu: np.ndarray) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(y > 0, y * np.log(y / mu), 0.0)
    return float(2 * np.sum(term - (y - mu)))


def poisson_regression(
    X: np.ndarray,
    y: np.ndarray,
    terms: list[str],
    clusters=None,
    offset=None,
    max_iter: int = 100,
    tol: float = 1e-10,
) -> RegressionFit:
    """Fit log E[y] = offset + X b by iteratively reweighted least squares. `X` must include the
    intercept column; `offset` is e.g. log(exposure). Cluster-robust errors treat rows of one cluster
    (e.g. one component) as dependent."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    n, k = X.shape
    off = np.zeros(n) if offset is None else np.asarray(offset, dtype=float)
    beta = np.zeros(k)
    beta[0] = np.log(max(y.sum(), 1e-12) / max(np.exp(off).sum(), 1e-12))
    converged = False
    for _ in range(max_iter):
        eta = np.clip(off + X @ beta, -30, 30)
        mu = np.exp(eta)
        z = eta - off + (y - mu) / mu
        XtW = X.T * mu
        step = np.linalg.lstsq(XtW @ X, XtW @ z, rcond=None)[0]
        if np.max(np.abs(step - beta)) < tol:
            beta = step
            converged = True
            break
        beta = step
    mu = np.exp(np.clip(off + X @ beta, -30, 30))
    bread = np.linalg.pinv((X.T * mu) @ X)
    se = np.sqrt(np.clip(np.diag(bread), 0, None))
    robust, g = _sandwich(bread, X * (y - mu)[:, None], clusters)
    null_mu = np.exp(off) * y.sum() / max(np.exp(off).sum(), 1e-12)
    return RegressionFit(
        link="log",
        terms=list(terms),
        coef=beta,
        se=se,
        robust_se=robust,
        n=n,
        clusters=g,
        converged=converged,
        deviance=_deviance(y, mu),
        null_deviance=_deviance(y, null_mu),
    )


def ols_regression(X: np.ndarray, y: np.ndarray, terms: list[str], clusters=None) -> RegressionFit:
    """Least squares y = X b (`X` includes the intercept column), classical and cluster-robust errors."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    n, k = X.shape
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    resid = y - X @ beta
    bread = np.linalg.pinv(X.T @ X)
    rss = float(resid @ resid)
    se = np.sqrt(np.clip(np.diag(bread) * rss / max(n - k, 1), 0, None))
    robust, g = _sandwich(bread, X * resid[:, None], clusters)
    return RegressionFit(
        link="identity",
        terms=list(terms),
        coef=beta,
        se=se,
        robust_se=robust,
        n=n,
        clusters=g,
        converged=True,
        deviance=rss,
        null_deviance=float(((y - y.mean()) ** 2).sum()),
    )
