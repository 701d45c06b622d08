"""Which config patterns go with long-lived components (long times between rollbacks or failures)?

Incidents: a deploy that failed or was rolled back (`common.incidents`). Survival: for each component,
the times between its incidents, from its first deploy, the last one censored at the end of the history
(or at its deletion), estimated with Kaplan–Meier.

Patterns: component type, environment, config fields that are set, and field values that are safe to
show: booleans and small categorical values (strings or integers with few distinct values across the
corpus, each shared by several components). Secret-named fields (`redaction.is_secret_field`) are never
used, and a value that only a few components have is never shown. Because configs change over time, a
component's timeline is cut at every deploy into spells with the config in force; a rollback counts
against the config it undid (the spell it ends), a failed deploy against its own config. For each
pattern: incidents per component-time with and without it (MTBF), the incident rate ratio from a
Poisson model with a log-exposure offset (crude, and within component type and environment as fixed
effects), with 95% CIs from errors clustered by component (never below the model-based ones),
p-values and Benjamini–Hochberg q-values.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse, stats

from karma_pipelines.config_fields import flatten
from karma_pipelines.insights.common import (
    UTC,
    InsightResult,
    component_info,
    empty_plot,
    end_of_history,
    fmt,
    incidents,
    md_table,
    new_figure,
    note_axes,
    save_figure,
    summary_text,
)
from karma_pipelines.insights.stats import (
    Z95,
    benjamini_hochberg,
    kaplan_meier,
    km_median,
    poisson_regression,
)
from karma_pipelines.redaction import REDACTED, is_secret_field

MIN_COMPONENTS = 5  # a pattern (and its absence) must be seen on at least this many components
MAX_LEVELS = 8  # a field with more distinct values than this is not categorical: its values are not shown
_SAFE_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:+-]{0,31}$")
# Values of these fields identify people, resources or addresses (or may be free text): never shown,
# even when few. Booleans are shown for any non-secret field.
_IDENTIFYING = re.compile(
    r"(^|\.)(tags|environment|env|variables|secrets)\.|name|user|email|owner|account|arn|(^|[._])ids?$|_ids?$"
    r"|domain|host|url|uri|endpoint|cidr|(^|_)ip$|address|zone|image|bucket|path|prefix|key|comment|"
    r"description|message|alias|record|subnet|vpc|sg|role|policy|cert",
    re.IGNORECASE,
)
PATTERN_COLUMNS = [
    "pattern",
    "kind",
    "components",
    "spells",
    "incidents",
    "exposure_days",
    "mtbf_days",
    "rest_mtbf_days",
    "rate_ratio",
    "rr_ci_low",
    "rr_ci_high",
    "p_value",
    "adj_rate_ratio",
    "adj_ci_low",
    "adj_ci_high",
    "adj_p_value",
    "q_value",
    "direction",
]


@dataclass(frozen=True)
class ConfigLongevity(InsightResult):
    patterns: pd.DataFrame  # one row per pattern, longest-lived (lowest incident rate ratio) first
    survival: pd.DataFrame  # Kaplan–Meier of days between incidents: overall and per environment
    gaps: pd.DataFrame  # one row per time between incidents of a component (censored at the end)
    spells: pd.DataFrame  # component timelines cut at every deploy, with incidents and config

    MAIN = "patterns"


def _secret_path(path: str) -> bool:
    return any(is_secret_field(part) for part in path.split("."))


def config_features(config_json: str) -> tuple[set[str], dict[str, str]]:
    """(field paths set, {path: value text} for candidate categorical values), secrets excluded."""
    try:
        config = json.loads(config_json) if config_json else {}
    except (TypeError, ValueError):
        return set(), {}
    fields, values = set(), {}
    for path, value in flatten(config).items():
        if not path or _secret_path(path) or value == REDACTED:
            continue
        fields.add(path)
        if isinstance(value, bool):
            values[path] = "true" if value else "false"
        elif _IDENTIFYING.search(path):
            continue
        elif isinstance(value, int) or (isinstance(value, str) and _SAFE_VALUE.match(value)):
            values[path] = str(value)
    return fields, values


def component_gaps(deploys: pd.DataFrame, end: pd.Timestamp) -> pd.DataFrame:
    """Times between a component's incidents (first deploy → incident → incident → … → end)."""
    cols = ["component", "component_type", "environment", "start", "stop", "days", "event"]
    info = component_info(deploys)
    bad = incidents(deploys)
    rows = []
    for comp in info.itertuples(index=False):
        stop_at = min(comp.deleted_at, end) if pd.notna(comp.deleted_at) else end
        times = sorted(set(bad.loc[bad["component"] == comp.component, "at"]))
        times = [t for t in times if comp.first_deploy_at <= t <= stop_at]
        bounds = [comp.first_deploy_at, *times]
        for i, start in enumerate(bounds):
            event = i < len(times)
            stop = times[i] if event else stop_at
            rows.append((comp.component, comp.component_type, comp.environment, start, stop, event))
    out = pd.DataFrame(rows, columns=[c for c in cols if c != "days"])
    out["start"], out["stop"] = out["start"].astype(UTC), out["stop"].astype(UTC)
    out["days"] = (out["stop"] - out["start"]).dt.total_seconds() / 86400.0
    out["event"] = out["event"].astype(bool)
    return out[cols]


def config_spells(deploys: pd.DataFrame, snapshots: pd.DataFrame, end: pd.Timestamp) -> pd.DataFrame:
    """Each component's timeline cut at every deploy: the config in force (its snapshot's deploy id and
    hash), the spell's length in days and the incidents charged to it."""
    cols = ["component", "component_type", "environment", "deploy_id", "start", "stop", "days", "incidents"]
    if deploys.empty:
        return pd.DataFrame({c: pd.Series(dtype=UTC if c in ("start", "stop") else object) for c in cols})
    info = component_info(deploys).set_index("component")
    ordered = deploys.sort_values(["deployed_at", "deploy_id"], kind="stable")
    # One config per instant: the last deploy at that time wins.
    at = ordered.drop_duplicates(["component", "deployed_at"], keep="last")
    frames = []
    for component, part in at.groupby("component", sort=True):
        stop_at = info.at[component, "deleted_at"]
        stop_at = end if pd.isna(stop_at) else min(stop_at, end)
        starts = part["deployed_at"].reset_index(drop=True)
        stops = pd.concat([starts.iloc[1:], pd.Series([stop_at])], ignore_index=True).astype(UTC)
        frames.append(
            pd.DataFrame(
                {
                    "component": component,
                    "component_type": info.at[component, "component_type"],
                    "environment": info.at[component, "environment"],
                    "deploy_id": part["deploy_id"].astype(str).to_numpy(),
                    "action": part["action"].astype(str).to_numpy(),
                    "start": starts.to_numpy(),
                    "stop": stops.to_numpy(),
                }
            )
        )
    spells = pd.concat(frames, ignore_index=True)
    spells["start"], spells["stop"] = spells["start"].astype(UTC), spells["stop"].astype(UTC)
    # Nothing runs after a delete; spells after the end are dropped.
    spells = spells[(spells["action"] != "delete") & (spells["start"] <= end)].reset_index(drop=True)
    spells["days"] = ((spells["stop"] - spells["start"]).dt.total_seconds() / 86400.0).clip(lower=0.0)
    spells["spell"] = np.arange(len(spells))
    bad = incidents(deploys)
    bad = bad[bad["at"] <= end].sort_values("at")
    index = spells[["component", "start", "spell"]].sort_values("start")
    charged = []
    # A rollback is charged to the spell it ends (started strictly before it), a failure to its own.
    for kind, exact in (("rollback", False), ("failure", True)):
        part = bad[bad["kind"] == kind]
        if len(part):
            hit = pd.merge_asof(
                part, index, left_on="at", right_on="start", by="component", allow_exact_matches=exact
            )
            if not exact:  # a rollback at a component's very first instant: charge its first spell
                first = index.groupby("component")["spell"].min()
                hit["spell"] = hit["spell"].fillna(hit["component"].map(first))
            charged.append(hit["spell"].dropna().astype(int))
    counts = pd.concat(charged).value_counts() if charged else pd.Series(dtype=int)
    spells["incidents"] = spells["spell"].map(counts).fillna(0).astype(int)
    return spells[cols]


def _pattern_matrix(spells: pd.DataFrame, snapshots: pd.DataFrame, min_components: int):
    """(sparse spells × patterns matrix, pattern names, kinds)."""
    config_of = dict(zip(snapshots["deploy_id"].astype(str), snapshots["config_json"], strict=True))
    per_spell: list[set[str]] = []
    values_seen: dict[str, dict[str, set[str]]] = {}
    cache: dict[str, tuple[set[str], dict[str, str]]] = {}
    for row in spells.itertuples(index=False):
        text = config_of.get(row.deploy_id, "")
        if text not in cache:
            cache[text] = config_features(text)
        fields, values = cache[text]
        items = {f"type={row.component_type}", f"environment={row.environment}"}
        items |= {f"{f} (set)" for f in fields}
        for path, value in values.items():
            values_seen.setdefault(path, {}).setdefault(value, set()).add(row.component)
            items.add(f"{path}={value}")
        per_spell.append(items)
    # A value is shown only if its field is categorical and the value is shared by enough components.
    allowed_values = {
        f"{path}={value}"
        for path, levels in values_seen.items()
        if len(levels) <= MAX_LEVELS
        for value, comps in levels.items()
        if len(comps) >= min_components
    }
    names = sorted(
        {p for items in per_spell for p in items if "=" not in p or p in allowed_values or _fixed(p)}
    )
    col = {p: i for i, p in enumerate(names)}
    rows, cols = [], []
    for i, items in enumerate(per_spell):
        for p in items:
            j = col.get(p)
            if j is not None:
                rows.append(i)
                cols.append(j)
    matrix = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(spells), len(names)))
    kinds = [
        "type" if p.startswith("type=") else "environment" if p.startswith("environment=")
        else "field" if p.endswith(" (set)") else "value"
        for p in names
    ]  # fmt: skip
    return matrix, names, kinds


def _fixed(pattern: str) -> bool:
    return pattern.startswith(("type=", "environment="))


def _rate_ratio_fit(
    x: np.ndarray,
    events: np.ndarray,
    days: np.ndarray,
    clusters: np.ndarray,
    strata: np.ndarray | None = None,
) -> tuple[float, float, float, float]:
    """(rate ratio, 95% CI low, high, p) of the pattern indicator `x` in a Poisson model of incidents
    with a log(days) offset and errors clustered by component. With `strata` (integer codes), the ratio
    is estimated within strata (fixed effects); only strata where the pattern varies and some incident
    happened carry information, so only those are fitted."""
    nan = float("nan")
    if strata is None:
        keep = np.ones(len(x), dtype=bool)
        columns = [np.ones(len(x)), x]
    else:
        k = int(strata.max()) + 1
        lo = np.full(k, np.inf)
        hi = np.full(k, -np.inf)
        np.minimum.at(lo, strata, x)
        np.maximum.at(hi, strata, x)
        informative = (lo < hi) & (np.bincount(strata, weights=events, minlength=k) > 0)
        keep = informative[strata]
        if not keep.any():
            return nan, nan, nan, nan
        codes = np.unique(strata[keep], return_inverse=True)[1]
        columns = [np.ones(int(keep.sum())), x[keep]]
        columns += [(codes == j).astype(float) for j in range(1, int(codes.max()) + 1)]
    e, d = events[keep], days[keep]
    exposed, total = float(e[x[keep] > 0].sum()), float(e.sum())
    if total == 0:
        return nan, nan, nan, nan
    if exposed == 0 or exposed == total:
        return (0.0 if exposed == 0 else float("inf")), nan, nan, nan
    terms = ["const", "x"] + [f"stratum_{j}" for j in range(2, len(columns))]
    fit = poisson_regression(np.column_stack(columns), e, terms, clusters=clusters[keep], offset=np.log(d))
    # Few components per stratum make the cluster-robust error optimistic: take the larger of the two.
    coef, se = float(fit.coef[1]), float(max(fit.robust_se[1], fit.se[1]))
    p = float(2 * stats.norm.sf(abs(coef / se))) if se > 0 else nan
    return float(np.exp(coef)), float(np.exp(coef - Z95 * se)), float(np.exp(coef + Z95 * se)), p


def _pattern_table(spells: pd.DataFrame, snapshots: pd.DataFrame, min_components: int) -> pd.DataFrame:
    if spells.empty or spells["days"].sum() <= 0:
        return pd.DataFrame(columns=PATTERN_COLUMNS)
    matrix, names, kinds = _pattern_matrix(spells, snapshots, min_components)
    # A spell of no length still carries its incidents (a deploy that failed and was replaced at once).
    days = np.maximum(spells["days"].to_numpy(float), 1.0 / 1440)
    events = spells["incidents"].to_numpy(float)
    clusters = pd.factorize(spells["component"])[0]
    # Adjusted ratios compare like with like: within component type and environment (a type or an
    # environment pattern is compared within the other dimension only).
    by_type_env = pd.factorize(spells["component_type"] + "|" + spells["environment"])[0]
    by_env = pd.factorize(spells["environment"])[0]
    by_type = pd.factorize(spells["component_type"])[0]
    strata_of = {"type": by_env, "environment": by_type, "field": by_type_env, "value": by_type_env}
    comp_codes, comps = pd.factorize(spells["component"])
    comp_matrix = sparse.csr_matrix((np.ones(len(spells)), (np.arange(len(spells)), comp_codes)))
    mt = matrix.T.tocsr()
    n_components = np.asarray(((mt @ comp_matrix) > 0).sum(axis=1)).ravel()
    n_spells = np.asarray(matrix.sum(axis=0)).ravel()
    t1, a = mt @ days, mt @ events
    total_t, total_e = days.sum(), events.sum()
    dense = matrix.tocsc()
    rows = []
    for j, name in enumerate(names):
        if n_components[j] < min_components or len(comps) - n_components[j] < min_components:
            continue
        x = dense[:, j].toarray().ravel()
        crude = _rate_ratio_fit(x, events, days, clusters)
        adj = _rate_ratio_fit(x, events, days, clusters, strata_of[kinds[j]])
        rows.append(
            {
                "pattern": name,
                "kind": kinds[j],
                "components": int(n_components[j]),
                "spells": int(n_spells[j]),
                "incidents": int(a[j]),
                "exposure_days": float(t1[j]),
                "mtbf_days": float(t1[j] / a[j]) if a[j] > 0 else np.inf,
                "rest_mtbf_days": float((total_t - t1[j]) / (total_e - a[j])) if total_e > a[j] else np.inf,
                "rate_ratio": crude[0],
                "rr_ci_low": crude[1],
                "rr_ci_high": crude[2],
                "p_value": crude[3],
                "adj_rate_ratio": adj[0],
                "adj_ci_low": adj[1],
                "adj_ci_high": adj[2],
                "adj_p_value": adj[3],
            }
        )
    table = pd.DataFrame(rows, columns=[c for c in PATTERN_COLUMNS if c not in ("q_value", "direction")])
    table["q_value"] = benjamini_hochberg(table["adj_p_value"])
    rr = table["adj_rate_ratio"]
    table["direction"] = np.select([rr < 1, rr > 1], ["longer-lived", "shorter-lived"], "n/a")
    # Longer-lived patterns first, each side by the strength of its evidence.
    order = table.assign(_side=table["direction"].map({"longer-lived": 0, "shorter-lived": 1}).fillna(2))
    return (
        order.sort_values(["_side", "adj_p_value", "pattern"], kind="stable", na_position="last")
        .drop(columns="_side")
        .reset_index(drop=True)
    )


def compute(
    events: pd.DataFrame | None,
    deploys: pd.DataFrame,
    snapshots: pd.DataFrame,
    as_of: pd.Timestamp | None = None,
    min_components: int = MIN_COMPONENTS,
) -> ConfigLongevity:
    """Survival between incidents, and the config patterns that go with fewer (or more) of them."""
    notes: list[str] = []
    end = end_of_history(events, deploys, as_of)
    if end is None or deploys.empty:
        notes.append("no deploys: no component timelines.")
        gaps = component_gaps(deploys.iloc[:0], pd.Timestamp.now(tz="UTC")) if deploys.empty else None
        spells = config_spells(deploys.iloc[:0], snapshots, pd.Timestamp.now(tz="UTC"))
    else:
        gaps = component_gaps(deploys, end)
        spells = config_spells(deploys, snapshots, end)
    patterns = _pattern_table(spells, snapshots, min_components)
    groups = [("all", gaps), *gaps.groupby("environment", sort=True)] if len(gaps) else []
    survival = pd.concat(
        [kaplan_meier(g["days"], g["event"]).assign(group=name) for name, g in groups]
        or [kaplan_meier([], []).assign(group=pd.Series(dtype=object))],
        ignore_index=True,
    )
    overall = survival[survival["group"] == "all"]
    exposure = float(spells["days"].sum()) if len(spells) else 0.0
    n_incidents = int(spells["incidents"].sum()) if len(spells) else 0
    significant = patterns[patterns["q_value"] < 0.05] if len(patterns) else patterns
    numbers: dict[str, float | int] = {
        "components": int(gaps["component"].nunique()) if len(gaps) else 0,
        "gaps": len(gaps),
        "incidents": n_incidents,
        "km_median_days_between_incidents": km_median(overall),
        "mtbf_days": exposure / n_incidents if n_incidents else float("nan"),
        "patterns_tested": len(patterns),
        "patterns_longer_lived_q05": int((significant["direction"] == "longer-lived").sum()),
        "patterns_shorter_lived_q05": int((significant["direction"] == "shorter-lived").sum()),
    }
    for name, part in survival.groupby("group"):
        if name != "all":
            numbers[f"km_median_days_{name}"] = km_median(part)
    if not len(patterns) and len(spells):
        notes.append(
            f"no pattern is shared by at least {min_components} components (and missing on as many)."
        )
    lines = [
        f"{numbers['incidents']} incidents (failed or rolled-back deploys) over {fmt(exposure, '.0f')} "
        f"component-days: one every **{fmt(numbers['mtbf_days'], '.1f')} days** per component; median time "
        f"between a component's incidents **{fmt(numbers['km_median_days_between_incidents'], '.1f')} days** "
        "(Kaplan–Meier, censored at the end).",
    ]
    if len(patterns):
        longer = patterns[patterns["direction"] == "longer-lived"].head(8)
        shorter = patterns[patterns["direction"] == "shorter-lived"].head(8)
        shown = ["pattern", "components", "mtbf_days", "rest_mtbf_days", "adj_rate_ratio", "adj_ci_low",
                 "adj_ci_high", "q_value"]  # fmt: skip
        lines += [
            "",
            "**Patterns of longer-lived configs** (incident rate ratio within type and environment < 1)",
            "",
            md_table(longer[shown], 8),
        ]
        lines += ["", "**Patterns of shorter-lived configs**", "", md_table(shorter[shown], 8)]
    return ConfigLongevity(
        numbers=numbers,
        summary=summary_text("Config patterns and component longevity", lines, tuple(notes)),
        notes=tuple(notes),
        patterns=patterns,
        survival=survival,
        gaps=gaps,
        spells=spells,
    )


def plot(result: ConfigLongevity, path: Path | str, top: int = 8) -> Path:
    """Left: Kaplan–Meier of days between incidents. Right: rate ratios (within type) of top patterns."""
    fig = new_figure(12, 5)
    left, right = fig.subplots(1, 2, width_ratios=[1, 1.2])
    if result.gaps.empty:
        return empty_plot(path, "No component timelines.", result.notes)
    for group, km in result.survival.groupby("group", sort=True):
        t = np.concatenate([[0.0], km["time"].to_numpy(float)])
        s = np.concatenate([[1.0], km["survival"].to_numpy(float)])
        style = {"color": "black", "lw": 2} if group == "all" else {}
        left.step(t, s, where="post", label=f"{group} (median {fmt(km_median(km), '.1f')} d)", **style)
    left.set_xlabel("days since first deploy or last incident")
    left.set_ylabel("share without a new incident")
    left.set_title("Time between rollbacks / failures (Kaplan–Meier)")
    left.legend(fontsize=8)
    pats = result.patterns.astype({"adj_rate_ratio": float, "adj_p_value": float})
    rr = pats["adj_rate_ratio"]
    pats = pats[np.isfinite(rr) & (rr > 0) & np.isfinite(pats["adj_p_value"])]
    if pats.empty:
        note_axes(right, "No config pattern with enough support to compare.")
        return save_figure(fig, path)
    shown = pd.concat(
        [
            pats[pats["direction"] == "longer-lived"].head(top),
            pats[pats["direction"] == "shorter-lived"].head(top),
        ]
    )
    shown = shown.sort_values("adj_rate_ratio")
    y = np.arange(len(shown))
    rr = shown["adj_rate_ratio"].to_numpy(float)
    err = np.clip(
        np.vstack([rr - shown["adj_ci_low"].to_numpy(float), shown["adj_ci_high"].to_numpy(float) - rr]),
        0,
        None,
    )
    colors = np.where(rr < 1, "tab:green", "tab:red")
    right.errorbar(rr, y, xerr=np.nan_to_num(err), fmt="none", ecolor="grey", capsize=2)
    right.scatter(rr, y, c=colors, zorder=3)
    right.axvline(1.0, color="black", lw=0.8)
    right.set_xscale("log")
    right.set_yticks(y, [p[:40] for p in shown["pattern"]], fontsize=7)
    right.set_xlabel("rate ratio within type & environment (95% CI; <1 = longer-lived)")
    right.set_title("Config patterns")
    return save_figure(fig, path)
