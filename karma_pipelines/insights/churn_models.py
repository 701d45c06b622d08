"""The churn models: OLS and Poisson regressions of incidents per component-week on churn (deploys,
fields touched, both), errors clustered by component."""

from __future__ import annotations

import numpy as np
import pandas as pd

from karma_pipelines.insights.stats import ols_regression, poisson_regression

FIELDS_UNIT = 10  # the fields coefficient is per this many fields touched
MODELS = {
    "deploys": ["deploys"],
    "fields": ["fields_touched_per_10"],
    "both": ["deploys", "fields_touched_per_10"],
}
COEF_COLUMNS = [
    "model",
    "link",
    "term",
    "coef",
    "se",
    "robust_se",
    "ci_low",
    "ci_high",
    "irr",
    "irr_ci_low",
    "irr_ci_high",
    "p_value",
    "n",
    "clusters",
]


def fit_churn_models(panel: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """OLS and Poisson regressions of incidents on churn (the MODELS), errors clustered by component."""
    notes: list[str] = []
    rows = []
    if len(panel) == 0 or panel["incidents"].sum() == 0:
        notes.append("no incidents (or no component-weeks): the churn models cannot be fitted.")
        return pd.DataFrame(columns=COEF_COLUMNS), notes
    data = panel.assign(fields_touched_per_10=panel["fields_touched"] / FIELDS_UNIT)
    y = data["incidents"].to_numpy(float)
    for model, terms in MODELS.items():
        if any(data[t].nunique() < 2 for t in terms):
            notes.append(f"model `{model}`: no variation in {', '.join(terms)}; not fitted.")
            continue
        X = np.column_stack([np.ones(len(data)), *[data[t].to_numpy(float) for t in terms]])
        if np.linalg.matrix_rank(X) < X.shape[1]:
            notes.append(f"model `{model}`: {', '.join(terms)} are collinear here; not fitted.")
            continue
        for link, fitter in (("identity", ols_regression), ("log", poisson_regression)):
            fit = fitter(X, y, ["intercept", *terms], clusters=data["component"].to_numpy())
            rows.append(fit.table().assign(model=model, link=link, n=fit.n, clusters=fit.clusters))
            if not fit.converged:
                notes.append(f"model `{model}` ({link}) did not converge; read its numbers with care.")
    coefs = pd.concat(rows, ignore_index=True)[COEF_COLUMNS] if rows else pd.DataFrame(columns=COEF_COLUMNS)
    return coefs, notes


def coefficient(coefs: pd.DataFrame, model: str, link: str, term: str) -> pd.Series | None:
    row = coefs[(coefs["model"] == model) & (coefs["link"] == link) & (coefs["term"] == term)]
    return row.iloc[0] if len(row) else None
