"""The rollback forecaster's features: one row per deploy, from what was known before it."""

from __future__ import annotations

import functools
import zlib

import numpy as np
import pandas as pd

from karma_pipelines.features.change_kinds import change_kind_counts
from karma_pipelines.features.change_values import change_value_features, env_kind
from karma_pipelines.features.daily_state import daily_state_features
from karma_pipelines.features.graph import (
    edge_changes,
    in_degree_before,
    upstream_hours_since_change,
)
from karma_pipelines.features.outcomes import outcome_features
from karma_pipelines.features.point_in_time import count_before, count_in_window
from karma_pipelines.features.text import text_features
from karma_pipelines.memory import release_freed_memory
from karma_pipelines.parallel import fork_map
from karma_pipelines.records.labels import DEFAULT_HORIZON

LABEL_COLUMNS = [
    "deploy_id", "deployed_at", "component", "change_id", "is_rollback", "labelled", "rolled_back"
]  # fmt: skip
WORK_HOURS = range(8, 19)
BOT_AUTHOR = r"(?i)(?:\[bot\]|\bbot\b|-bot\b|renovate|dependabot|github-actions|\bci\b|automation|jenkins)"


def stable_code(values: pd.Series, buckets: int = 997) -> pd.Series:
    """A category code that is the same in every run and every source (crc32 of the text)."""
    return values.astype(str).map(lambda v: zlib.crc32(v.encode()) % buckets).astype("int64")


def build_rollback_features(
    deploys: pd.DataFrame,
    snapshots: pd.DataFrame,
    only: set[str] | None = None,
    daily_state: pd.DataFrame | None = None,
    horizon: pd.Timedelta = DEFAULT_HORIZON,
    graph_embeddings: bool | None = None,
    change_values: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Label columns plus every feature, in deploy time order. With `only` (deploy ids), just those
    rows are returned (the whole history is still used, so their values are the same). `daily_state`
    (from `daily_state_features`, keyed by deploy_id) is used instead of computing it here. `horizon`:
    the label horizon, after which an outcome without a revert is known (the point-in-time parrot).
    `graph_embeddings`: add the `graph_embedding` group (None: as models/rollback_forecaster.yaml says).
    `change_values` (from `change_value_features`, keyed by deploy_id): used like `daily_state`."""
    d = deploys.sort_values(["deployed_at", "deploy_id"], kind="stable").reset_index(drop=True)
    t = d["deployed_at"]
    f = _Features(d.index)

    # Change: size and kind of what this deploy changes (known when it is proposed).
    for col in ("n_fields_added", "n_fields_removed", "n_fields_changed"):
        f[col] = d[col]
    f["n_fields_touched"] = d[["n_fields_added", "n_fields_removed", "n_fields_changed"]].sum(axis=1)
    f["lines_added"], f["lines_removed"] = d["lines_added"], d["lines_removed"]
    f.join(change_kind_counts(d))
    # Deploys of the same change (commit / change request) so far, this one included: a later
    # promotion of the same change must not count before it happens.
    f["components_in_change"] = count_before(d["change_id"], t + pd.Timedelta(1, "ns"), d["change_id"], t)
    f.join(_change_scope(d))
    computed_values, daily_state = _slowest_groups(d, snapshots, only, change_values, daily_state)
    if change_values is None:
        f.join(computed_values)
    else:  # computed elsewhere (e.g. from the rows they depend on: features/appended.py)
        f.join(change_values.set_index("deploy_id").reindex(d["deploy_id"]).set_axis(d.index))
    del computed_values  # in `f` now (a fifth of the features' memory)
    f["is_first_deploy"] = (d["action"] == "create").astype("int64")
    f["is_promotion"] = (d["action"] == "promote").astype("int64")
    f["is_rollback_deploy"] = d["is_rollback"].astype("int64")

    # History of the component: rollbacks count only once they had happened (rolled_back_at < t).
    rb = d[d["rolled_back_at"].notna()]
    prior = count_before(d["component"], t, d["component"], t)
    prior_rollbacks = count_before(d["component"], t, rb["component"], rb["rolled_back_at"])
    f["comp_prior_deploys"], f["comp_prior_rollbacks"] = prior, prior_rollbacks
    f["comp_rollback_rate"] = (prior_rollbacks + 0.1) / (prior + 1)
    for days in (1, 7, 30):
        f[f"comp_deploys_{days}d"] = count_in_window(
            d["component"], t, d["component"], t, pd.Timedelta(days=days)
        )
    prev_t = d.groupby("component")["deployed_at"].shift(1)
    f["days_since_last_deploy"] = (t - prev_t).dt.total_seconds() / 86400.0
    prev_rb_at = d.groupby("component")["rolled_back_at"].shift(1)
    f["last_deploy_rolled_back"] = (prev_rb_at.notna() & (prev_rb_at < t)).astype("int64")
    f["last_deploy_was_rollback"] = (
        d.groupby("component")["is_rollback"].shift(1, fill_value=False).astype("int64")
    )
    f.join(outcome_features(d, horizon))

    # People: the author's experience overall and on this component.
    author_comp = d["author"] + "\x00" + d["component"]
    prior = count_before(d["author"], t, d["author"], t)
    prior_rollbacks = count_before(d["author"], t, rb["author"], rb["rolled_back_at"])
    f["author_prior_deploys"] = prior
    f["author_prior_deploys_on_component"] = count_before(author_comp, t, author_comp, t)
    f["author_prior_rollbacks"] = prior_rollbacks
    f["author_rollback_rate"] = (prior_rollbacks + 0.1) / (prior + 1)
    f["author_is_bot"] = d["author"].astype(str).str.contains(BOT_AUTHOR, regex=True).astype("int64")

    # Graph as it was at deploy time.
    snaps = snapshots.set_index("deploy_id")
    f["out_degree"] = d["deploy_id"].map(snaps["references"].map(len)).fillna(0).astype("int64")
    f["in_degree"] = in_degree_before(d, edge_changes(snapshots))
    hours = upstream_hours_since_change(d, snapshots)
    f["upstream_hours_since_change"] = hours
    f["upstream_changed_24h"] = (hours < 24).astype("int64")
    f["config_n_fields"] = d["deploy_id"].map(snaps["n_fields"]).fillna(0).astype("int64")
    del snaps
    state = daily_state.set_index("deploy_id")
    for col in ("downstream_transitive", "pagerank", "usual_fields_missing"):
        f[col] = d["deploy_id"].map(state[col]).astype("float64").to_numpy()
    del state, daily_state
    if _embeddings_on() if graph_embeddings is None else graph_embeddings:
        # imported only when on: the graph-over-time module loads the insights (statsmodels: 2 s)
        from karma_pipelines.features.graph_embedding import graph_embedding_features

        f.join(graph_embedding_features(d, snapshots))

    # Time and place.
    hour, weekday = t.dt.hour.astype("int64"), t.dt.weekday.astype("int64")  # deployed_at is UTC
    f["hour"], f["weekday"] = hour, weekday
    f["is_weekend"] = (weekday >= 5).astype("int64")
    f["is_off_hours"] = (~hour.isin(WORK_HOURS)).astype("int64")  # weekends are their own fact
    kinds = d["environment"].map(env_kind)
    for env in ("prod", "staging", "dev"):
        f[f"env_{env}"] = (kinds == env).astype("int64")
    f["component_type_code"] = stable_code(d["component_type"])
    f.join(text_features(d["message"]))

    out = f.frame(d[LABEL_COLUMNS])
    return out if only is None else out[out["deploy_id"].isin(only)].reset_index(drop=True)


def _slowest_groups(
    d: pd.DataFrame,
    snapshots: pd.DataFrame,
    only: set[str] | None,
    change_values: pd.DataFrame | None,
    daily_state: pd.DataFrame | None,
) -> tuple[pd.DataFrame | None, pd.DataFrame]:
    """(change values, daily graph state): the two groups that are each a pure-Python pass over every
    deploy, made side by side by forked workers where this process may fork (`parallel.fork_map`), in
    turn here otherwise; one given is not made again (None comes back for given change values)."""
    wanted = None if only is None else set(d.loc[d["deploy_id"].isin(only), "deployed_at"].dt.floor("D"))
    groups = []
    if change_values is None:
        groups.append(lambda: change_value_features(d, snapshots))
    if daily_state is None:
        groups.append(lambda: daily_state_features(d, snapshots, only_days=wanted))
    release_freed_memory()  # before the workers fork: they inherit none of this process's freed heap
    made = list(fork_map(lambda i: groups[i](), len(groups)))
    return (made.pop(0) if change_values is None else None), (made.pop(0) if made else daily_state)


class _Features:
    """The feature columns, each made a float64 array (infinities null) as it is added, and the table
    made once at the end: no frame of every feature is copied per group joined or per type cast (at a
    million deploys each copy is most of a gigabyte)."""

    def __init__(self, index: pd.Index) -> None:
        self._index = index
        self._columns: dict[str, np.ndarray] = {}

    def __setitem__(self, name: str, values) -> None:
        if isinstance(values, pd.Series) and not values.index.equals(self._index):
            values = values.reindex(self._index)  # aligned by deploy, as assigning to a frame does
        column = pd.Series(values, index=self._index).astype("float64").to_numpy(copy=True)
        column[np.isinf(column)] = np.nan
        self._columns[name] = column

    def join(self, frame: pd.DataFrame) -> None:
        for name in frame.columns:
            self[name] = frame[name]

    def frame(self, labels: pd.DataFrame) -> pd.DataFrame:
        """The label columns (as they are), then every feature in the order added: the feature arrays
        become the table's columns as they are (`copy=False`: not consolidated into one block, which
        would hold every feature twice while it is made)."""
        columns = {name: labels[name].copy() for name in labels.columns}
        columns.update(self._columns)
        self._columns = {}
        return pd.DataFrame(columns, index=self._index, copy=False)


@functools.cache
def _embeddings_on() -> bool:
    from karma_pipelines.training.spec import load_spec

    return load_spec("rollback_forecaster").graph_embeddings


def _change_scope(d: pd.DataFrame) -> pd.DataFrame:
    """How wide the change (commit / change request) is so far, this deploy included: the services
    (nicknames) and environments it touched, and whether it touched production and staging at once.
    A later deploy of the same change (a promotion) is not counted before it happens."""
    out = pd.DataFrame(index=d.index)
    key = [d["change_id"], d["deployed_at"]]
    for name, column in (("services_in_change", "nickname"), ("envs_in_change", "environment")):
        first = ~d.duplicated(["change_id", column])
        so_far = first.astype("int64").groupby(d["change_id"]).cumsum()
        out[name] = so_far.groupby(key).transform("max")  # every deploy of the same instant
    kinds = d["environment"].map(env_kind)
    for kind in ("prod", "staging"):
        seen = (kinds == kind).astype("int64").groupby(d["change_id"]).cummax()
        out[f"change_has_{kind}"] = seen.groupby(key).transform("max")
    out["prod_and_staging_in_change"] = out["change_has_prod"] * out["change_has_staging"]
    return out.drop(columns=["change_has_prod", "change_has_staging"])
