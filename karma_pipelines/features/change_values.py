"""What a change does to its values, the way a GitOps reviewer reads a diff: an image tag or chart
version bumped (up or down), replica / resource numbers up or down and by how much, a toggle flipped,
a list grown or shrunk, keys added or removed; how wide it is (sections of a shared values file); how
recently the same keys were changed and reverted; a production change giving a key a value that the
service's staging config does not have (production touched before staging).

One pass over the deploys in time order, keeping each component's previous config (from the
redacted snapshots, read by field path: only the paths a deploy touched are looked up; only numbers,
booleans and list lengths are compared, no value leaves this module). Every lookback is strictly before
the deploy (same-time deploys are computed before any of them is recorded), so the features are
point-in-time."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from typing import Any

import numpy as np
import pandas as pd

from karma_pipelines.contracts.config_fields import FlatView, loads_json
from karma_pipelines.contracts.schema import column_values, shared_values

VERSION_KEY = re.compile(r"(^|_)(tag|image|image_tag|version|chart_version|digest|revision|ref)$", re.I)
CAPACITY_KEY = re.compile(
    r"(replica|replicas|cpu|memory|min|max|limit|limits|requests|concurrency|workers|threads|count|size"
    r"|timeout|pool|heap)", re.I
)  # fmt: skip
_QUANTITY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|k|Ki|Mi|Gi|Ti|K|M|G|T)?\s*$")
_UNITS = {None: 1.0, "m": 1e-3, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
          "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}  # fmt: skip
_DIGITS = re.compile(r"\d+")
PROD_ENVS = {"prod", "production", "prd", "live"}
STAGING_ENVS = {"staging", "stage", "stg", "preprod", "pre-prod", "uat"}
MAX_PATHS = 200  # touched paths looked at per deploy (a rewrite of a whole file is one big change)
_MISSING = object()
_NO_CONFIG = FlatView({})
_HOUR_NS = 3_600_000_000_000
NEVER_HOURS = 1e5  # "never reverted": beyond any recent revert, so that the feature is monotone

COLUMNS = [
    "n_version_bumps", "n_version_up", "n_version_down", "version_step",
    "n_numbers_up", "n_numbers_down", "n_capacity_up", "n_capacity_down", "max_abs_log_ratio",
    "n_toggles_on", "n_toggles_off", "n_lists_grown", "n_lists_shrunk", "n_strings_changed",
    "config_sections", "sections_touched",
    "hours_since_key_changed", "key_changes_7d", "key_reverts_known", "hours_since_key_reverted",
    "prod_before_staging", "hours_since_staging_change",
]  # fmt: skip


def env_kind(environment: str) -> str:
    """`prod`, `staging`, `dev` or `other` for an environment name of any repository."""
    env = str(environment).lower()
    if env in PROD_ENVS:
        return "prod"
    if env in STAGING_ENVS:
        return "staging"
    if env in {"dev", "development", "integration", "test", "qa", "sandbox"}:
        return "dev"
    return "other"


def quantity(value: Any) -> float | None:
    """A number, or a Kubernetes quantity string (`512Mi`, `500m`, `2`), as a float; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and (m := _QUANTITY.match(value)):
        return float(m[1]) * _UNITS[m[2]]
    return None


def version_order(old: Any, new: Any) -> int:
    """+1 when `new` reads as a later version than `old` (digit groups compared), -1 earlier, 0 unknown."""
    a, b = [int(x) for x in _DIGITS.findall(str(old))], [int(x) for x in _DIGITS.findall(str(new))]
    if not a or not b or a == b:
        return 0
    return 1 if b > a else -1


def _value_diff(old: FlatView, new: FlatView, paths: list[str], row: dict) -> None:
    for path in paths:
        name = path.rsplit(".", 1)[-1]
        if path not in old or path not in new:
            continue  # added / removed keys are counted by the records themselves
        a, b = old[path], new[path]
        if isinstance(a, bool) and isinstance(b, bool):
            row["n_toggles_on" if b else "n_toggles_off"] += 1
        elif isinstance(a, list) and isinstance(b, list):
            if len(b) != len(a):
                row["n_lists_grown" if len(b) > len(a) else "n_lists_shrunk"] += 1
        elif VERSION_KEY.search(name) or (name == "tag"):
            row["n_version_bumps"] += 1
            order = version_order(a, b)
            row["n_version_up"] += order > 0
            row["n_version_down"] += order < 0
            digits_a, digits_b = _DIGITS.findall(str(a)), _DIGITS.findall(str(b))
            if digits_a and digits_b and len(digits_a) == len(digits_b) == 1:
                row["version_step"] = max(row["version_step"], float(int(digits_b[0]) - int(digits_a[0])))
        elif (qa := quantity(a)) is not None and (qb := quantity(b)) is not None:
            if qb != qa:
                up = qb > qa
                row["n_numbers_up" if up else "n_numbers_down"] += 1
                if CAPACITY_KEY.search(path):
                    row["n_capacity_up" if up else "n_capacity_down"] += 1
                ratio = abs(math.log((abs(qb) + 1.0) / (abs(qa) + 1.0)))
                row["max_abs_log_ratio"] = max(row["max_abs_log_ratio"], ratio)
        elif isinstance(a, str) and isinstance(b, str):
            row["n_strings_changed"] += 1


def _sections(paths: list[str]) -> set[str]:
    return {p.split(".", 1)[0] for p in paths}


def change_value_features(deploys: pd.DataFrame, snapshots: pd.DataFrame) -> pd.DataFrame:
    """The COLUMNS above, one row per deploy (index aligned with `deploys`, which is in time order)."""
    texts = configs_in_order(snapshots, deploys["deploy_id"])
    previous: dict[tuple[str, str], FlatView] = {}
    # Times are integer nanoseconds: Timestamp arithmetic in this loop would be most of its cost.
    key_changed: dict[tuple, list[int]] = defaultdict(list)
    key_reverted: dict[tuple, int] = {}
    last_staging: dict[str, int] = {}
    staging_config: dict[str, FlatView] = {}
    out = np.full((len(deploys), len(COLUMNS)), np.nan)
    pending: list[tuple] = []  # updates of the deploys at the current instant, applied after them
    current_t = None
    week, hour = 7 * 24 * _HOUR_NS, _HOUR_NS
    # The names a text object per distinct value (not per deploy), the touched paths the records' lists.
    names = [shared_values(deploys[c]) for c in ("component", "nickname", "environment")]
    changed, added, removed = (
        deploys[c].tolist() for c in ("fields_changed", "fields_added", "fields_removed")
    )
    times = pd.DatetimeIndex(deploys["deployed_at"]).asi8.tolist()
    for i, ((component, nickname, env, is_rollback), raw) in enumerate(
        zip(zip(*names, deploys["is_rollback"].tolist(), strict=True), texts, strict=True)
    ):
        t = times[i]
        if t != current_t:
            for update in pending:
                _apply(update, previous, key_changed, key_reverted, last_staging, staging_config)
            pending, current_t = [], t
        key = (env, component)
        new = FlatView(loads_json(raw) if isinstance(raw, str) else {})
        old = previous.get(key, _NO_CONFIG)
        touched = (changed[i] + added[i] + removed[i])[:MAX_PATHS]
        row = dict.fromkeys(COLUMNS, 0.0)
        _value_diff(old, new, touched, row)
        row["config_sections"] = float(len(new.sections()))
        row["sections_touched"] = float(len(_sections(touched)))
        last = [key_changed[(key, p)][-1] for p in touched if key_changed.get((key, p))]
        row["hours_since_key_changed"] = (t - max(last)) / hour if last else np.nan
        since = t - week
        row["key_changes_7d"] = float(
            max((sum(1 for s in key_changed.get((key, p), ()) if s >= since) for p in touched), default=0)
        )
        reverted = [key_reverted[(key, p)] for p in touched if (key, p) in key_reverted]
        row["key_reverts_known"] = float(len(reverted))
        row["hours_since_key_reverted"] = (t - max(reverted)) / hour if reverted else NEVER_HOURS
        kind = env_kind(env)
        staged = last_staging.get(nickname)
        staging = staging_config.get(nickname)
        if kind == "prod" and staging is not None:  # only where the service has a staging config
            # A value production now gets that staging does not have (yet): not staged first.
            row["prod_before_staging"] = float(
                any(p in new and staging.get(p, _MISSING) != new[p] for p in touched)
            )
            row["hours_since_staging_change"] = (t - staged) / hour if staged is not None else np.nan
        else:
            row["prod_before_staging"] = 0.0
            row["hours_since_staging_change"] = np.nan
        out[i] = [row[c] for c in COLUMNS]
        pending.append((key, new, touched, t, bool(is_rollback), nickname, kind))
    return pd.DataFrame(out, columns=COLUMNS, index=deploys.index)


def _apply(update, previous, key_changed, key_reverted, last_staging, staging_config) -> None:
    key, new, touched, t, is_rollback, nickname, kind = update
    previous[key] = new
    for p in touched:
        times = key_changed[(key, p)]
        times.append(t)
        if len(times) > 64:
            del times[:32]
        if is_rollback:
            key_reverted[(key, p)] = t
    if kind == "staging":
        last_staging[nickname] = t
        staging_config[nickname] = new


def configs_in_order(snapshots: pd.DataFrame, deploy_ids: pd.Series, batch: int = 1 << 16):
    """Each deploy's `config_json` (the last snapshot of its id; None without one), in the order of
    `deploy_ids`, made Python text a batch at a time: never every config's text at once."""
    ids = pd.Index(snapshots["deploy_id"])  # (its own dtype: no text object per id)
    last = ~ids.duplicated(keep="last")
    found = ids[last].get_indexer(deploy_ids)
    positions = np.full(len(found), -1, dtype=np.int64)
    positions[found >= 0] = np.flatnonzero(last)[found[found >= 0]]
    text = snapshots["config_json"]
    for start in range(0, len(positions), batch):
        wanted = positions[start : start + batch]
        has = wanted >= 0
        values = column_values(text.iloc[np.where(has, wanted, 0)]) if len(text) else [None] * len(wanted)
        yield from (v if ok else None for v, ok in zip(values, has, strict=True))
