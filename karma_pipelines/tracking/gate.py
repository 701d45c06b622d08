"""The one promotion gate for every model: decided once, right after a challenger is registered (its
holdout is in hand), recorded once on the MLflow run and the model version, read back by the Dagster
check, and applied by the model's champion step (`settle_champion`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import lightgbm as lgb
import mlflow
import numpy as np

from karma_pipelines.tracking.lightgbm_runs import NOTE, RegisteredModel, format_metrics, load_version
from karma_pipelines.tracking.lineage import SOURCE_TAG
from karma_pipelines.tracking.registry import (
    PromotionDecision,
    champion_for,
    decide_promotion,
    record_decision,
    recorded_decision,
)
from karma_pipelines.tracking.store import MlflowTarget
from karma_pipelines.training.spec import PromotionGate


@dataclass(frozen=True)
class Tracked:
    """A logged model: where it is in the registry and, when registered, the gate's decision."""

    registered: RegisteredModel
    decision: PromotionDecision | None  # None when the run was only logged (a backtest)


def describe_decision(decision: PromotionDecision, champion_version: str | None) -> str:
    """The gate's decision as a sentence for the run's and the version's descriptions."""
    verdict = "promote to champion" if decision.promote else "keep the champion"
    against = (
        f" Champion (version {champion_version}) on the same holdout: {format_metrics(decision.champion)}."
        if decision.champion and champion_version
        else ""
    )
    return f"Promotion decision: **{verdict}** ({decision.reason}).{against}"


def challenge_champion(
    target: MlflowTarget,
    registered: RegisteredModel,
    gate: PromotionGate,
    challenger_metrics: dict[str, float],
    score_on_holdout: Callable[[lgb.Booster], dict[str, float]],
) -> PromotionDecision:
    """Score the current champion on the challenger's holdout and decide; the decision and both
    scores are recorded on the challenger's version and run. The alias is not moved here."""
    client = target.client()
    name, version = registered.name, registered.version
    if registered.unchanged:  # the same data and code as this version: its recorded decision stands
        return recorded_decision(client, name, version)
    source = client.get_model_version(name, version).tags.get(SOURCE_TAG)
    champion = champion_for(client, name, source)
    champion_metrics = None
    if champion is not None and str(champion.version) != str(version):
        champion_metrics = score_on_holdout(load_version(target, name, str(champion.version)))
    decision = decide_promotion(challenger_metrics, champion_metrics, gate)
    record_decision(client, name, version, decision)
    champion_version = None if champion_metrics is None else str(champion.version)
    summary = describe_decision(decision, champion_version)
    described = client.get_model_version(name, version).description or ""
    client.update_model_version(name, version, description=f"{described}\n\n{summary}".strip())
    with mlflow.start_run(run_id=registered.run_id) as active:
        note = active.data.tags.get(NOTE, "")
        mlflow.set_tags({**decision.as_tags(), NOTE: f"{note}\n\n{summary}".strip()})
        if champion_metrics:
            mlflow.log_metrics(
                {f"champion_{k}": float(v) for k, v in champion_metrics.items() if np.isfinite(float(v))}
            )
    return decision
