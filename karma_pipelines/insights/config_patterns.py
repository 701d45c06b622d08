"""Config patterns of component timelines and their incident rate ratios (for `config_longevity`).

Patterns: component type, environment, config fields that are set, and field values that are safe to
show: booleans and small categorical values (strings or integers with few distinct values across the
corpus, each shared by several components). Secret-named fields (`redaction.is_secret_field`) are never
used, and a value that only a few components have is never shown. For each pattern: incidents per
component-time with and without it (MTBF), the incident rate ratio from a Poisson model with a
log-exposure offset (crude, and within component type and environment as fixed effects), with 95% CIs
from errors clustered by component (never below the model-based ones), p-values and Benjamini–Hochberg
q-values.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
from scipy import sparse, stats

from karma_pipelines.contracts.config_fields import flatten
from karma_pipelines.contracts.redaction import REDACTED, is_secret_field
from karma_pipelines.insights.stats import Z95, benjamini_hochberg, poisson_regression

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


def pattern_table(spells: pd.DataFrame, snapshots: pd.DataFrame, min_components: int) -> pd.DataFrame:
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
