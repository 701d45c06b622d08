"""Config churn against incident volume, per component and week, with the relationship estimated.

Churn: deploys (rollbacks excluded: they are the response, not the cause) and config fields touched
(added + removed + changed). Incidents: deploys that failed or were rolled back, counted in the week the
incident happened (the rollback, else the failed deploy). Every week of a component's life is a row,
quiet weeks included. The relationship is estimated two ways, each with errors clustered by component
(a component's weeks are not independent): a linear model (OLS: extra incidents per extra deploy, or per
10 more fields touched) and a Poisson regression (log link: the incidence rate ratio), each with its
95% CI and p-value; churn as deploys, as fields touched, and both together.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from karma_pipelines.insights.churn_models import coefficient, fit_churn_models
from karma_pipelines.insights.common import (
    InsightResult,
    component_info,
    empty_plot,
    end_of_history,
    fmt,
    incidents,
    md_table,
    new_figure,
    save_figure,
    summary_text,
    week_start,
    weeks_between,
)
from karma_pipelines.insights.stats import Z95

PANEL_COLUMNS = [
    "component",
    "component_type",
    "environment",
    "week",
    "deploys",
    "fields_touched",
    "lines_changed",
    "incidents",
    "failures",
    "rollbacks",
]


@dataclass(frozen=True)
class ChurnVsIncidents(InsightResult):
    panel: pd.DataFrame  # one row per component and week of its life
    coefficients: pd.DataFrame  # OLS and Poisson regressions of incidents on churn, clustered by component
    by_deploys: pd.DataFrame  # mean incidents per component-week by deploys that week (0, 1, …, 5+)

    MAIN = "panel"


def churn_panel(deploys: pd.DataFrame, end: pd.Timestamp | None) -> pd.DataFrame:
    """Component × week counts of churn and incidents, zero-filled over each component's life."""
    if deploys.empty or end is None:
        return pd.DataFrame({c: pd.Series(dtype=int) for c in PANEL_COLUMNS})
    info = component_info(deploys)
    frames = []
    for comp in info.itertuples(index=False):
        stop = comp.deleted_at if pd.notna(comp.deleted_at) and comp.deleted_at < end else end
        weeks = weeks_between(comp.first_deploy_at, stop)
        frames.append(
            pd.DataFrame(
                {
                    "component": comp.component,
                    "component_type": comp.component_type,
                    "environment": comp.environment,
                    "week": weeks,
                }
            )
        )
    panel = pd.concat(frames, ignore_index=True)
    ordinary = deploys[~deploys["is_rollback"].astype(bool)]
    churn = (
        ordinary.assign(
            week=week_start(ordinary["deployed_at"]),
            fields=ordinary["n_fields_added"] + ordinary["n_fields_removed"] + ordinary["n_fields_changed"],
            lines=ordinary["lines_added"] + ordinary["lines_removed"],
        )
        .groupby(["component", "week"])
        .agg(deploys=("deploy_id", "size"), fields_touched=("fields", "sum"), lines_changed=("lines", "sum"))
    )
    bad = incidents(deploys)
    bad = bad[bad["at"] <= end].assign(week=lambda f: week_start(f["at"]))
    counts = (
        bad.assign(failure=bad["kind"].eq("failure"), rollback=bad["kind"].eq("rollback"))
        .groupby(["component", "week"])
        .agg(incidents=("deploy_id", "size"), failures=("failure", "sum"), rollbacks=("rollback", "sum"))
    )
    panel = panel.join(churn, on=["component", "week"]).join(counts, on=["component", "week"])
    numeric = ["deploys", "fields_touched", "lines_changed", "incidents", "failures", "rollbacks"]
    panel[numeric] = panel[numeric].fillna(0).astype(int)
    return panel[PANEL_COLUMNS].sort_values(["component", "week"]).reset_index(drop=True)


def _by_deploys(panel: pd.DataFrame, cap: int = 5) -> pd.DataFrame:
    cols = [
        "deploys",
        "mean_deploys",
        "component_weeks",
        "mean_incidents",
        "ci_low",
        "ci_high",
        "mean_fields_touched",
    ]
    if panel.empty:
        return pd.DataFrame(columns=cols)
    binned = panel.assign(bin=panel["deploys"].clip(upper=cap))
    out = binned.groupby("bin").agg(
        component_weeks=("incidents", "size"),
        mean_deploys=("deploys", "mean"),
        mean_incidents=("incidents", "mean"),
        sd=("incidents", "std"),
        mean_fields_touched=("fields_touched", "mean"),
    )
    half = Z95 * out["sd"].fillna(0) / np.sqrt(out["component_weeks"])
    out["ci_low"] = (out["mean_incidents"] - half).clip(lower=0)
    out["ci_high"] = out["mean_incidents"] + half
    out = out.rename_axis("deploys").reset_index()
    out["deploys"] = [f"{d}+" if d == cap else str(d) for d in out["deploys"]]
    return out[cols]


def compute(
    events: pd.DataFrame | None,
    deploys: pd.DataFrame,
    snapshots: pd.DataFrame | None = None,
    as_of: pd.Timestamp | None = None,
) -> ChurnVsIncidents:
    """The component-week panel, the fitted churn → incidents relationships and a binned view."""
    end = end_of_history(events, deploys, as_of)
    panel = churn_panel(deploys, end)
    coefs, notes = fit_churn_models(panel)
    by_deploys = _by_deploys(panel)
    numbers: dict[str, float | int] = {
        "component_weeks": len(panel),
        "components": int(panel["component"].nunique()) if len(panel) else 0,
        "incidents": int(panel["incidents"].sum()) if len(panel) else 0,
        "mean_incidents_per_component_week": float(panel["incidents"].mean()) if len(panel) else float("nan"),
    }
    for key, model, term in (
        ("per_deploy", "deploys", "deploys"),
        ("per_10_fields", "fields", "fields_touched_per_10"),
        ("per_10_fields_given_deploys", "both", "fields_touched_per_10"),
        ("per_deploy_given_fields", "both", "deploys"),
    ):
        ols = coefficient(coefs, model, "identity", term)
        if ols is not None:
            numbers[f"slope_{key}"] = float(ols["coef"])
            numbers[f"slope_{key}_se"] = float(ols["robust_se"])
            numbers[f"slope_{key}_ci_low"] = float(ols["ci_low"])
            numbers[f"slope_{key}_ci_high"] = float(ols["ci_high"])
            numbers[f"slope_{key}_p"] = float(ols["p_value"])
        poisson = coefficient(coefs, model, "log", term)
        if poisson is not None:
            numbers[f"irr_{key}"] = float(poisson["irr"])
            numbers[f"irr_{key}_ci_low"] = float(poisson["irr_ci_low"])
            numbers[f"irr_{key}_ci_high"] = float(poisson["irr_ci_high"])
            numbers[f"irr_{key}_p"] = float(poisson["p_value"])
    if "slope_per_deploy" in numbers:
        n = numbers
        nan = float("nan")
        lines = [
            f"Over {n['component_weeks']} component-weeks ({n['incidents']} incidents), each extra deploy "
            f"in a week goes with **{fmt(n['slope_per_deploy'], '+.3f')} incidents** (95% CI "
            f"{fmt(n['slope_per_deploy_ci_low'], '.3f')} to {fmt(n['slope_per_deploy_ci_high'], '.3f')}, "
            f"p={fmt(n['slope_per_deploy_p'], '.2g')}; OLS, clustered by component), i.e. incidents × "
            f"{fmt(n.get('irr_per_deploy', nan), '.3f')} (Poisson rate ratio, 95% CI "
            f"{fmt(n.get('irr_per_deploy_ci_low', nan), '.3f')}–"
            f"{fmt(n.get('irr_per_deploy_ci_high', nan), '.3f')}).",
            f"10 more fields touched: {fmt(n.get('slope_per_10_fields', nan), '+.3f')} incidents (95% CI "
            f"{fmt(n.get('slope_per_10_fields_ci_low', nan), '.3f')} to "
            f"{fmt(n.get('slope_per_10_fields_ci_high', nan), '.3f')}); for the same number of deploys, "
            f"{fmt(n.get('slope_per_10_fields_given_deploys', nan), '+.3f')} (p="
            f"{fmt(n.get('slope_per_10_fields_given_deploys_p', nan), '.2g')}).",
            "",
            md_table(coefs[coefs["term"] != "intercept"].drop(columns=["ci_low", "ci_high"]), 12),
            "",
            "**Incidents per component-week by deploys that week**",
            "",
            md_table(by_deploys, 10),
        ]
    else:
        lines = ["The churn models could not be fitted."]
    return ChurnVsIncidents(
        numbers=numbers,
        summary=summary_text("Config churn and incidents", lines, tuple(notes)),
        notes=tuple(notes),
        panel=panel,
        coefficients=coefs,
        by_deploys=by_deploys,
    )


def plot(result: ChurnVsIncidents, path: Path | str) -> Path:
    """Left: incidents per component-week by deploys that week, with the fitted OLS line (band: the
    slope's 95% CI) and Poisson curve. Right: the churn coefficients of the linear models with 95% CIs."""
    fig = new_figure(11, 4.5)
    left, right = fig.subplots(1, 2)
    coefs = result.coefficients
    if coefs.empty:
        return empty_plot(path, "Not enough data for the churn models.", result.notes)
    b = result.by_deploys
    x = b["mean_deploys"].to_numpy(float)
    err = np.clip(np.vstack([b["mean_incidents"] - b["ci_low"], b["ci_high"] - b["mean_incidents"]]), 0, None)
    left.errorbar(
        x, b["mean_incidents"], yerr=err, fmt="o", color="tab:blue", capsize=3, label="observed (95% CI)"
    )
    grid = np.linspace(0, max(float(x.max()), 1.0), 60)
    ols_a, ols_b = (
        coefficient(coefs, "deploys", "identity", "intercept"),
        coefficient(coefs, "deploys", "identity", "deploys"),
    )
    if ols_a is not None and ols_b is not None:
        line = ols_a["coef"] + ols_b["coef"] * grid
        left.plot(grid, line, color="tab:red", label=f"OLS: {ols_b['coef']:+.3f} per deploy")
        left.fill_between(
            grid,
            ols_a["coef"] + ols_b["ci_low"] * grid,
            ols_a["coef"] + ols_b["ci_high"] * grid,
            color="tab:red",
            alpha=0.15,
        )
    pa, pb = (
        coefficient(coefs, "deploys", "log", "intercept"),
        coefficient(coefs, "deploys", "log", "deploys"),
    )
    if pa is not None and pb is not None:
        left.plot(
            grid,
            np.exp(pa["coef"] + pb["coef"] * grid),
            color="tab:green",
            ls="--",
            label=f"Poisson: ×{pb['irr']:.2f} per deploy",
        )
    left.set_xlabel("deploys of the component that week (bins: 0 … 5+, at their mean)")
    left.set_ylabel("incidents per component-week")
    left.set_title("Churn and incidents")
    left.legend(fontsize=8)
    c = coefs[(coefs["link"] == "identity") & (coefs["term"] != "intercept")]
    y = np.arange(len(c))
    slope = c["coef"].to_numpy(float)
    xerr = np.clip(
        np.vstack([slope - c["ci_low"].to_numpy(float), c["ci_high"].to_numpy(float) - slope]), 0, None
    )
    right.errorbar(slope, y, xerr=xerr, fmt="o", color="black", capsize=3)
    right.axvline(0.0, color="grey", lw=0.8)
    right.set_yticks(y, [f"{m}: {t}" for m, t in zip(c["model"], c["term"], strict=True)], fontsize=8)
    right.set_xlabel("extra incidents per component-week (OLS; 95% CI)")
    right.set_title("Churn coefficients")
    return save_figure(fig, path)
