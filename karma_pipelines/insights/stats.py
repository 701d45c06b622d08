"""The statistics the insights use, from scipy and statsmodels: Kaplan–Meier, Wilson intervals,
Benjamini–Hochberg q-values, and Poisson / OLS regressions with cluster-robust errors."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

Z95 = float(stats.norm.ppf(0.975))

# -- survival -----------------------------------------------------------------------------------------

KM_COLUMNS = ["time", "at_risk", "events", "censored", "survival", "se", "ci_low", "ci_high"]


def kaplan_meier(durations, observed) -> pd.DataFrame:
    """The Kaplan–Meier estimate (`scipy.stats.ecdf` of right-censored data) at each distinct time
    with an event or a censoring.

    `observed` is True for an event, False for a censored duration. At a tie, events happen before
    censorings (the usual convention). `se` is Greenwood's; the 95% interval is scipy's log-log one
    (S itself where it is undefined: before the first event and at S = 0).
    Columns: time, at_risk, events, censored, survival, se, ci_low, ci_high."""
    t = np.asarray(durations, dtype=float)
    e = np.asarray(observed, dtype=bool)
    keep = np.isfinite(t)
    t, e = t[keep], e[keep]
    if t.size == 0:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in KM_COLUMNS})
    sf = stats.ecdf(stats.CensoredData(uncensored=t[e], right=t[~e])).sf
    times, survival = sf.quantiles, sf.probabilities
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The confidence interval is undefined", RuntimeWarning)
        ci = sf.confidence_interval(0.95, method="log-log")
    lo = np.where(np.isfinite(ci.low.probabilities), ci.low.probabilities, survival)
    hi = np.where(np.isfinite(ci.high.probabilities), ci.high.probabilities, survival)
    total = pd.Series(t).value_counts().reindex(times).to_numpy(float)
    events = pd.Series(t[e]).value_counts().reindex(times, fill_value=0).to_numpy(float)
    at_risk = t.size - np.concatenate([[0.0], np.cumsum(total)[:-1]])
    # Greenwood's variance (scipy uses it for the interval but does not expose it).
    with np.errstate(divide="ignore", invalid="ignore"):
        greenwood = np.cumsum(np.where(events > 0, events / (at_risk * (at_risk - events)), 0.0))
        se = np.where(survival > 0, survival * np.sqrt(greenwood), 0.0)
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


def wilson_interval(k: float, n: float) -> tuple[float, float]:
    """95% Wilson score interval of a proportion k/n (NaN, NaN when n == 0)."""
    if n <= 0:
        return float("nan"), float("nan")
    ci = stats.binomtest(int(k), int(n)).proportion_ci(confidence_level=0.95, method="wilson")
    return float(np.clip(ci.low, 0.0, 1.0)), float(np.clip(ci.high, 0.0, 1.0))


def benjamini_hochberg(p_values) -> np.ndarray:
    """Benjamini–Hochberg q-values (NaN p-values stay NaN and are not counted)."""
    p = np.asarray(p_values, dtype=float)
    q = np.full_like(p, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        q[ok] = stats.false_discovery_control(p[ok], method="bh")
    return q


# -- regression ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegressionFit:
    """A statsmodels fit with cluster-robust errors (HC1 when there are no clusters), and its
    model-based errors beside them.

    `link` is "log" (Poisson: exp(coef) is an incidence rate ratio) or "identity" (OLS)."""

    link: str
    terms: list[str]
    result: Any  # statsmodels GLMResults / RegressionResults
    clusters: int

    @property
    def coef(self) -> np.ndarray:
        return np.asarray(self.result.params)

    @property
    def se(self) -> np.ndarray:
        """Model-based (inverse Fisher information; OLS: classical)."""
        return np.sqrt(np.clip(np.diag(self.result.normalized_cov_params) * self.result.scale, 0, None))

    @property
    def robust_se(self) -> np.ndarray:
        return np.asarray(self.result.bse)

    @property
    def n(self) -> int:
        return int(self.result.nobs)

    @property
    def converged(self) -> bool:
        return bool(getattr(self.result, "converged", True))

    def table(self) -> pd.DataFrame:
        """One row per term: coefficient, errors, robust 95% CI, p-value (normal), and for the log link
        the rate ratio exp(coef) with its CI."""
        ci = np.asarray(self.result.conf_int(0.05))
        lo, hi = ci[:, 0], ci[:, 1]
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
                "p_value": np.asarray(self.result.pvalues),
            }
        )


def _robust(clusters) -> tuple[dict, int | None]:
    """statsmodels `fit` arguments for cluster-robust errors (normal, not t, inference)."""
    if clusters is None:
        return {"cov_type": "HC1", "use_t": False}, None
    codes = pd.factorize(pd.Series(np.asarray(clusters)))[0]
    return {"cov_type": "cluster", "cov_kwds": {"groups": codes}, "use_t": False}, int(codes.max()) + 1


def poisson_regression(
    X: np.ndarray, y: np.ndarray, terms: list[str], clusters=None, offset=None
) -> RegressionFit:
    """Poisson GLM log E[y] = offset + X b (`X` includes the intercept column; `offset` is e.g.
    log(exposure)). Cluster-robust errors treat rows of one cluster (e.g. one component) as dependent."""
    kwargs, g = _robust(clusters)
    model = sm.GLM(np.asarray(y, dtype=float), np.asarray(X, dtype=float), family=sm.families.Poisson(),
                   offset=None if offset is None else np.asarray(offset, dtype=float))  # fmt: skip
    result = model.fit(maxiter=100, **kwargs)
    return RegressionFit("log", list(terms), result, len(y) if g is None else g)


def ols_regression(X: np.ndarray, y: np.ndarray, terms: list[str], clusters=None) -> RegressionFit:
    """Least squares y = X b (`X` includes the intercept column), classical and cluster-robust errors."""
    kwargs, g = _robust(clusters)
    result = sm.OLS(np.asarray(y, dtype=float), np.asarray(X, dtype=float)).fit(**kwargs)
    return RegressionFit("identity", list(terms), result, len(y) if g is None else g)
