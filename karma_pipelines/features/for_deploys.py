"""Features of a few deploys (e.g. a commit being scored) from only the history they depend on.

Every lookback feature is keyed by the deploy's component, author, change, upstream components or the
components that reference it; rows sharing none of these cannot change its values. The day's graph and
type norms need every component's latest config, so they come from the full snapshots for that day.
A test checks the result equals `build_rollback_features` on the whole history."""

from __future__ import annotations

import pandas as pd

from karma_pipelines.features.daily_state import daily_state_features
from karma_pipelines.features.rollback import build_rollback_features


def relevant_history(
    deploys: pd.DataFrame, snapshots: pd.DataFrame, wanted: set[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The deploys and snapshots that the features of the `wanted` deploys can depend on."""
    target = deploys[deploys["deploy_id"].isin(wanted)]
    components = set(target["component"])
    upstream = {
        ref for refs in snapshots.loc[snapshots["deploy_id"].isin(wanted), "references"] for ref in refs
    }
    referencing = snapshots.loc[
        snapshots["references"].map(lambda refs: not components.isdisjoint(refs)), "component"
    ]
    keep = (
        deploys["component"].isin(components | upstream | set(referencing))
        | deploys["author"].isin(set(target["author"]))
        | deploys["change_id"].isin(set(target["change_id"]))
    )
    kept = deploys[keep]
    return kept, snapshots[snapshots["deploy_id"].isin(set(kept["deploy_id"]))]


def features_for(deploys: pd.DataFrame, snapshots: pd.DataFrame, wanted: set[str]) -> pd.DataFrame:
    """The rows of `build_rollback_features(deploys, snapshots)` for the `wanted` deploys, cheaply."""
    # The day's graph and type norms come from every component's config, not the relevant rows.
    target = deploys[deploys["deploy_id"].isin(wanted)]
    state = daily_state_features(target, snapshots)
    small_deploys, small_snaps = relevant_history(deploys, snapshots, wanted)
    return build_rollback_features(small_deploys, small_snaps, only=wanted, daily_state=state)
