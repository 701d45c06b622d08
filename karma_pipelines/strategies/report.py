"""The `promotion_strategies` result: estimates per strategy and outcome, the recommended policy, a
markdown summary and a figure (what the Dagster asset shows)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from karma_pipelines.contracts.promotion_strategies import BASELINE, OUTCOMES, STRATEGIES
from karma_pipelines.insights.common import (
    InsightResult,
    empty_plot,
    end_of_history,
    fmt,
    md_table,
    new_figure,
    save_figure,
    summary_text,
)
from karma_pipelines.strategies.estimate import MIN_CLASS, estimate_strategies
from karma_pipelines.strategies.promotions import promotions_table

TITLES = {
    "rollback_rate": "rollback rate of the promoted deploy",
    "restore_hours": "time to restore (geometric mean hours, rolled-back ones)",
    "drifts_per_week": "drifts per week on the prod component",
}
TITLE = "Promotion strategies by long-term health"
PRIMARY = "rollback_rate"  # the recommendation minimises it


@dataclass(frozen=True)
class PromotionStrategies(InsightResult):
    estimates: pd.DataFrame  # one row per outcome and strategy
    promotions: pd.DataFrame  # one row per promotion to prod
    recommended: str  # "" when nothing could be estimated

    MAIN = "estimates"


def _recommend(estimates: pd.DataFrame) -> tuple[str, list[str]]:
    primary = estimates[estimates["outcome"] == PRIMARY].set_index("strategy")
    best = str(primary["value"].idxmin())
    row = primary.loc[best]
    lines = [f"**Recommended policy: `{best}`** — the lowest estimated {TITLES[PRIMARY]}, "
             f"{fmt(100 * row['value'], '.1f')}% (95% CI {fmt(100 * row['ci_low'], '.1f')}–"
             f"{fmt(100 * row['ci_high'], '.1f')}%)."]  # fmt: skip
    if best != BASELINE:
        significant = row["effect_ci_high"] < 0
        lines.append(
            f"Against `{BASELINE}`: {fmt(100 * row['effect'], '+.1f')} points "
            f"(95% CI {fmt(100 * row['effect_ci_low'], '+.1f')} to "
            f"{fmt(100 * row['effect_ci_high'], '+.1f')}), "
            + ("a clear improvement." if significant else "not distinguishable from it at 95%.")
        )
    for outcome in OUTCOMES[1:]:
        other = estimates[(estimates["outcome"] == outcome) & (estimates["strategy"] == best)]
        if len(other):
            o = other.iloc[0]
            lines.append(
                f"Its {TITLES[outcome]}: {fmt(o['value'], '.3g')} (effect {fmt(o['effect'], '+.3g')}, "
                f"95% CI {fmt(o['effect_ci_low'], '+.3g')} to {fmt(o['effect_ci_high'], '+.3g')})."
            )
    return best, lines


def _wide(estimates: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for s in [s for s in STRATEGIES if s in set(estimates["strategy"])]:
        row: dict = {"strategy": s}
        for outcome in OUTCOMES:
            part = estimates[(estimates["outcome"] == outcome) & (estimates["strategy"] == s)]
            if len(part):
                p = part.iloc[0]
                row["promotions"] = int(p["promotions"])
                row[outcome] = f"{p['value']:.3g} [{p['ci_low']:.3g}, {p['ci_high']:.3g}]"
        rows.append(row)
    return pd.DataFrame(rows)


def compute(
    events: pd.DataFrame | None,
    deploys: pd.DataFrame,
    end: pd.Timestamp | None = None,
    seed: int = 0,
) -> PromotionStrategies:
    """Promotions to prod read from the log, each strategy's health estimated, a policy recommended."""
    notes: list[str] = []
    end = end_of_history(events, deploys, end)
    promotions = promotions_table(events, deploys, end) if end is not None else pd.DataFrame()
    estimates, diagnostics = (
        estimate_strategies(promotions, seed) if len(promotions) else (pd.DataFrame(), {})
    )
    numbers: dict[str, float | int] = {"promotions": len(promotions), **diagnostics}
    if estimates.empty or PRIMARY not in set(estimates["outcome"]):
        notes.append(
            "not enough promotions to prod with a known strategy and 35 days of history after them "
            "(a Git source has no promotion events): nothing estimated."
        )
        return PromotionStrategies(
            numbers=numbers,
            summary=summary_text(TITLE, ["Nothing to estimate."], tuple(notes)),
            notes=tuple(notes),
            estimates=estimates,
            promotions=promotions,
            recommended="",
        )
    for row in estimates.itertuples(index=False):
        numbers[f"{row.outcome}_{row.strategy}"] = float(row.value)
        if row.strategy != BASELINE:
            numbers[f"{row.outcome}_{row.strategy}_effect"] = float(row.effect)
    missing = [s for s in STRATEGIES if s not in set(estimates["strategy"])]
    if missing:
        notes.append(
            f"too few promotions (under {MIN_CLASS} evaluated) of class {', '.join(missing)}: not estimated."
        )
    best, lines = _recommend(estimates)
    lines += [
        "",
        "**Estimated mean outcome had every promotion used the strategy** (doubly robust, 95% CI):",
        "",
        md_table(_wide(estimates), len(STRATEGIES)),
        "",
        f"{numbers['promotions_evaluated']} promotions to prod with 35 days of history after them; drift "
        f"over the {numbers['promotions_drift']} whose window (to the next promotion, at most 28 days) "
        "is 3 days or more. Cross-fitted AIPW: propensities by multinomial logistic regression on the author "
        "and the blast radius, outcome models pooled over the classes (drift: one per class); intervals "
        "cluster-robust by component; time to restore is the geometric mean over the rolled-back ones.",
    ]
    return PromotionStrategies(
        numbers=numbers,
        summary=summary_text(TITLE, lines, tuple(notes)),
        notes=tuple(notes),
        estimates=estimates,
        promotions=promotions,
        recommended=best,
    )


def plot(result: PromotionStrategies, path: Path | str) -> Path:
    """One panel per outcome: each strategy's estimate and 95% interval, its naive mean hollow."""
    if result.estimates.empty:
        return empty_plot(path, "promotion strategies", result.notes)
    fig = new_figure(12, 3.8)
    axes = fig.subplots(1, len(OUTCOMES))
    shown = [s for s in STRATEGIES if s in set(result.estimates["strategy"])]
    y = np.arange(len(shown))
    for ax, outcome in zip(axes, OUTCOMES, strict=True):
        part = result.estimates[result.estimates["outcome"] == outcome].set_index("strategy")
        part = part.reindex(shown)
        err = np.vstack([part["value"] - part["ci_low"], part["ci_high"] - part["value"]])
        colors = ["tab:green" if s == result.recommended else "tab:blue" for s in shown]
        for i, color in enumerate(colors):
            value, bar = part["value"].iloc[i], err[:, i : i + 1]
            ax.errorbar(value, y[i], xerr=bar, fmt="none", ecolor=color, capsize=3)
        ax.scatter(part["value"], y, c=colors, zorder=3, label="doubly robust")
        ax.scatter(part["naive"], y, facecolors="none", edgecolors="grey", zorder=3, label="naive")
        ax.set_yticks(y, shown)
        ax.invert_yaxis()
        ax.set_title(TITLES[outcome], fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    axes[0].legend(fontsize=8, loc="best")
    return save_figure(fig, path)
