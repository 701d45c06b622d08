"""The rollback risk of a change not deployed yet, under the champion forecaster: the change becomes one
more deploy at the end of the history (point-in-time features from what was known before it, exactly
as `score` does for a commit), scored with reasons (`training.explain`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import pandas as pd

from karma_pipelines.contracts.config_diff import diff_configs
from karma_pipelines.contracts.config_fields import compact_json
from karma_pipelines.contracts.schema import CONFIG_SNAPSHOTS, DEPLOY_RECORDS
from karma_pipelines.features.for_deploys import features_for
from karma_pipelines.records.from_events import snapshot_row
from karma_pipelines.training.explain import explain

FORECASTER = "karma-rollback-forecaster"
WHATIF_ID = "whatif-0"


@dataclass(frozen=True)
class Forecaster:
    """A loaded champion: the booster, its version and its test base rate."""

    booster: lgb.Booster
    version: str = "unregistered"
    base_rate: float | None = None
    model: str = f"models:/{FORECASTER}@champion"


def load_forecaster(home: Path, sources: list[str]) -> Forecaster:
    """The champion serving the first of `sources` (`<kind>:<resolved path>`) that has one, else
    `champion`; ValueError when the store in `home` has none."""
    from karma_pipelines.tracking.lightgbm_runs import load_booster
    from karma_pipelines.tracking.lineage import source_alias
    from karma_pipelines.tracking.registry import CHAMPION, champion_for, version_by_alias
    from karma_pipelines.tracking.store import MlflowTarget

    target = MlflowTarget.for_home(home)
    client = target.client()
    for source in sources:
        version = champion_for(client, FORECASTER, source)
        if version is not None:
            alias = (
                source_alias(source)
                if version_by_alias(client, FORECASTER, source_alias(source))
                else CHAMPION
            )
            break
    else:
        version, alias = version_by_alias(client, FORECASTER, CHAMPION), CHAMPION
    if version is None:
        raise ValueError(
            f"no models:/{FORECASTER}@champion in {home}: run `make run` (or the pipeline) first"
        )
    booster = load_booster(target, FORECASTER, alias)
    base = client.get_run(version.run_id).data.metrics.get("test_base_rate") if version.run_id else None
    return Forecaster(booster, str(version.version), base, f"models:/{FORECASTER}@{alias}")


def hypothetical_deploy(
    deploys: pd.DataFrame,
    component: str,
    environment: str,
    before: dict | None,
    after: dict,
    at: pd.Timestamp,
    author: str = "whatif",
    message: str = "",
    action: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(deploy_records row, config_snapshots row) of the proposed change as one deploy at `at`."""
    ctype, _, nickname = component.partition("/")
    diff = diff_configs(before, after)
    row = {
        "deploy_id": WHATIF_ID,
        "deployed_at": at,
        "component": component,
        "component_type": ctype,
        "nickname": nickname,
        "environment": environment,
        "author": author,
        "action": action or ("update" if before else "create"),
        "source": "whatif",
        "change_id": WHATIF_ID,
        "message": message,
        **diff.columns(),
        "outcome": "succeeded",
        "is_rollback": False,
        "rolls_back": None,
        "labelled": False,
        "rolled_back": pd.NA,
        "rollback_delay_hours": float("nan"),
    }
    snap = snapshot_row(WHATIF_ID, at, component, environment, after, text=compact_json(after))
    frame = pd.DataFrame([row]).assign(rolled_back_at=pd.Series([pd.NaT], dtype="datetime64[ns, UTC]"))
    return DEPLOY_RECORDS.conform(frame), CONFIG_SNAPSHOTS.conform(pd.DataFrame([snap]))


def change_risk(
    forecaster: Forecaster,
    deploys: pd.DataFrame,
    snapshots: pd.DataFrame,
    deploy_row: pd.DataFrame,
    snapshot_row_: pd.DataFrame,
) -> dict:
    """`{"score", "reasons", "base_rate", "model", "version"}` of the hypothetical deploy, from the
    history strictly before it."""
    at = deploy_row["deployed_at"].iat[0]
    past = deploys["deployed_at"] < at
    past_ids = set(deploys.loc[past, "deploy_id"])
    all_deploys = pd.concat([deploys[past], deploy_row], ignore_index=True)
    all_snaps = pd.concat(
        [snapshots[snapshots["deploy_id"].isin(past_ids)], snapshot_row_], ignore_index=True
    )
    rows = features_for(all_deploys, all_snaps, {WHATIF_ID})
    scored = explain(forecaster.booster, rows)
    return {
        "score": float(scored["score"].iat[0]),
        "reasons": [r for r in str(scored["reasons"].iat[0]).split("; ") if r],
        "base_rate": forecaster.base_rate,
        "model": forecaster.model,
        "version": forecaster.version,
    }
