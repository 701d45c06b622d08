"""Readable reasons for a risk score, from LightGBM's own per-feature contributions (`pred_contrib`)."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd

# How a feature's value reads in a sentence; features not listed use a generic phrase.
PHRASES: dict[str, str] = {
    "n_fields_touched": "touches {v:.0f} fields",
    "n_fields_added": "adds {v:.0f} fields",
    "n_fields_removed": "removes {v:.0f} fields",
    "n_fields_changed": "changes {v:.0f} fields",
    "lines_added": "adds {v:.0f} lines of config",
    "lines_removed": "removes {v:.0f} lines of config",
    "changes_network": "changes {v:.0f} network field(s)",
    "changes_capacity": "changes {v:.0f} capacity field(s)",
    "changes_image": "changes {v:.0f} image/version field(s)",
    "changes_security": "changes {v:.0f} security field(s)",
    "changes_reference": "rewires {v:.0f} dependency reference(s)",
    "is_first_deploy": "is the component's first deploy",
    "is_promotion": "is a promotion from an earlier environment",
    "in_degree": "{v:.0f} components read this one directly",
    "downstream_transitive": "{v:.0f} components depend on it (transitively)",
    "out_degree": "depends on {v:.0f} components",
    "upstream_changed_24h": "an upstream component changed in the last 24 h",
    "upstream_hours_since_change": "an upstream component changed {v:.0f} h before",
    "author_prior_deploys": "its author has {v:.0f} earlier deploys",
    "author_prior_deploys_on_component": "its author deployed this component {v:.0f} times before",
    "author_rollback_rate": "its author's rollback rate so far is {v:.0%}",
    "comp_rollback_rate": "the component's rollback rate so far is {v:.0%}",
    "comp_prior_rollbacks": "the component was rolled back {v:.0f} times before",
    "last_deploy_rolled_back": "the component's last deploy was rolled back",
    "days_since_last_deploy": "{v:.1f} days since the component's last deploy",
    "is_off_hours": "deployed off hours",
    "hour": "deployed at {v:02.0f}:00 UTC",
    "is_weekend": "deployed at the weekend",
    "env_prod": "goes to prod",
    "usual_fields_missing": "lacks {v:.0f} field(s) that most configs of its type set",
    "pagerank": "central in the dependency graph (PageRank {v:.3f})",
    "config_n_fields": "its config sets {v:.0f} fields",
    "author_prior_rollbacks": "its author's deploys were rolled back {v:.0f} times before",
    "comp_prior_deploys": "the component was deployed {v:.0f} times before",
    "comp_deploys_1d": "{v:.0f} other deploys of the component in the last day",
    "comp_deploys_7d": "{v:.0f} deploys of the component in the last 7 days",
    "comp_deploys_30d": "{v:.0f} deploys of the component in the last 30 days",
    "components_in_change": "the same change deploys {v:.0f} components",
    "weekday": "deployed on a {day}",
    "last_deploy_was_rollback": "follows a rollback of the same component",
    "n_version_bumps": "bumps {v:.0f} image tag / version field(s)",
    "n_version_down": "takes {v:.0f} version(s) back",
    "version_step": "jumps {v:.0f} versions at once",
    "n_capacity_up": "raises {v:.0f} replica / resource number(s)",
    "n_capacity_down": "lowers {v:.0f} replica / resource number(s)",
    "max_abs_log_ratio": "changes a number by a factor of e^{v:.1f}",
    "n_toggles_on": "turns {v:.0f} toggle(s) on",
    "n_toggles_off": "turns {v:.0f} toggle(s) off",
    "n_lists_grown": "grows {v:.0f} list(s)",
    "n_lists_shrunk": "shrinks {v:.0f} list(s)",
    "config_sections": "its config file has {v:.0f} sections (a shared file?)",
    "sections_touched": "touches {v:.0f} sections of the file",
    "services_in_change": "the same commit touches {v:.0f} services",
    "envs_in_change": "the same commit touches {v:.0f} environments",
    "prod_and_staging_in_change": "changes production and staging in one commit",
    "prod_before_staging": "gives production a value that staging does not have",
    "hours_since_key_changed": "the same keys changed {v:.0f} h before",
    "key_changes_7d": "the same keys changed {v:.0f} times in 7 days",
    "key_reverts_known": "the same keys were reverted before",
    "hours_since_key_reverted": "the same keys were reverted {v:.0f} h before",
    "last_known_outcome": "the component's last known outcome was a rollback",
    "comp_pit_rollback_rate": "the component's known rollback rate is {v:.0%}",
    "comp_reverts_30d": "{v:.0f} reverts of the component in the last 30 days",
    "author_is_bot": "made by an automation account",
    "msg_reapply": "its message says it re-applies something",
    "msg_revert": "its message mentions a revert",
    "msg_test": "its message mentions a test",
    "msg_ticket": "its message names a ticket",
    "env_staging": "goes to staging",
    "env_dev": "goes to dev",
    "component_type_code": "its component type",
}
WHEN_UNKNOWN = {
    "upstream_hours_since_change": "no upstream component has changed yet",
    "days_since_last_deploy": "the component has no earlier deploy",
}
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
FLAGS = {"is_first_deploy", "is_promotion", "upstream_changed_24h", "last_deploy_rolled_back", "is_off_hours",
         "is_weekend", "env_prod"}  # fmt: skip
# Counts and rates whose 0 is an absence ("rolled back 0 times before"): like a flag that is off, a
# zero raises risk only by contrast and is never given as a reason.
NONE_AT_ZERO = {f for f, t in PHRASES.items() if "{v:.0f}" in t or "{v:.0%}" in t} - {
    "upstream_hours_since_change"
}


def phrase(feature: str, value: float) -> str:
    if np.isnan(value):
        return WHEN_UNKNOWN.get(feature, f"{feature} is unknown")
    template = PHRASES.get(feature)
    if template is None:
        return f"{feature} = {value:g}"
    day = DAYS[int(value) % 7] if feature == "weekday" else ""
    return template.format(v=value, day=day)


def explain(booster: lgb.Booster, frame: pd.DataFrame, top: int = 3) -> pd.DataFrame:
    """score, and the `top` features that raised it most, as sentences: one row per input row."""
    features = booster.feature_name()
    x = frame[features]
    contrib = booster.predict(x, pred_contrib=True)[:, : len(features)]  # last column: the bias
    scores = booster.predict(x)
    reasons = []
    for row, values in zip(contrib, x.to_numpy(dtype=float), strict=True):
        order = np.argsort(-row)
        picked = []
        for i in order:
            if row[i] <= 0 or len(picked) == top:
                break
            if features[i] in FLAGS | NONE_AT_ZERO and values[i] == 0:
                continue  # a flag that is off or a count at 0 raises risk only by contrast; say nothing
            picked.append(phrase(features[i], values[i]))
        reasons.append("; ".join(picked) if picked else "nothing stands out")
    return pd.DataFrame({"score": scores, "reasons": reasons}, index=frame.index)
