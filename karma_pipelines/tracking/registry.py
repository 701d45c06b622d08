"""Model registry: challenger/champion aliases and the promotion decision, for every model.

A champion serves one source: each source's champion has its own alias (`lineage.source_alias`), and
`champion` (what `score` and `suggest --model champion` load) is the champion of the source of the
version it points to. A challenger is compared with its own source's champion, on its own holdout, and
a version trained on another source never replaces `champion`."""

from __future__ import annotations

import math
from dataclasses import dataclass

from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from karma_pipelines.tracking.lineage import SOURCE_TAG, source_alias
from karma_pipelines.training.spec import PromotionGate

CHAMPION, CHALLENGER = "champion", "challenger"


@dataclass(frozen=True)
class PromotionDecision:
    promote: bool
    reason: str
    challenger: dict[str, float]
    champion: dict[str, float] | None

    def as_tags(self) -> dict[str, str]:
        tags = {"promotion.decision": "promote" if self.promote else "keep", "promotion.reason": self.reason}
        return tags


def version_by_alias(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def champion_for(client: MlflowClient, name: str, source: str | None) -> ModelVersion | None:
    """The champion serving `source`: its own alias, else `champion` when that serves the same source
    (or predates source tags). A champion of another source is none of this source's."""
    if source:
        own = version_by_alias(client, name, source_alias(source))
        if own is not None:
            return own
    current = version_by_alias(client, name, CHAMPION)
    if current is None or not source or current.tags.get(SOURCE_TAG, source) == source:
        return current
    return None


def decide_promotion(
    challenger: dict[str, float], champion: dict[str, float] | None, gate: PromotionGate
) -> PromotionDecision:
    """Promote when there is no champion, or when the challenger is at least as good on the primary
    metric (plus `min_primary_gain`) and loses at most `pr_auc_tolerance` in PR-AUC. Same holdout.
    A challenger whose primary metric or PR-AUC is NaN (or missing) is never promoted."""
    key = gate.primary_metric
    new, pr_new = challenger.get(key, math.nan), challenger.get("pr_auc", math.nan)
    for name, value in ((key, new), ("pr_auc", pr_new)):
        if math.isnan(value):
            return PromotionDecision(False, f"challenger {name} is undefined (NaN)", challenger, champion)
    if champion is None:
        return PromotionDecision(True, "no champion yet", challenger, None)
    old = champion.get(key, math.nan)
    if not math.isnan(old) and new < old + gate.min_primary_gain:
        return PromotionDecision(
            False, f"{key} {new:.4f} < champion {old:.4f} + {gate.min_primary_gain}", challenger, champion
        )
    pr_old = champion.get("pr_auc", math.nan)
    if not math.isnan(pr_old) and pr_new < pr_old - gate.pr_auc_tolerance:
        return PromotionDecision(
            False,
            f"pr_auc {pr_new:.4f} below champion {pr_old:.4f} - tolerance {gate.pr_auc_tolerance}",
            challenger,
            champion,
        )
    return PromotionDecision(True, f"{key} {new:.4f} >= champion {old:.4f}", challenger, champion)


def record_decision(client: MlflowClient, name: str, version: str, decision: PromotionDecision) -> None:
    """Write the decision and both scores on the challenger's version."""
    for k, v in decision.as_tags().items():
        client.set_model_version_tag(name, version, k, v)
    for side, scores in (("challenger", decision.challenger), ("champion", decision.champion or {})):
        for metric, value in scores.items():
            client.set_model_version_tag(name, version, f"promotion.{side}.{metric}", f"{value:.6g}")


def promote_to_champion(client: MlflowClient, name: str, version: str) -> None:
    """Make a version whose recorded decision is `promote` the champion of its source (its own alias),
    and `champion` too unless that serves another source; refuse any other version."""
    mv = client.get_model_version(name, version)
    if mv.tags.get("promotion.decision") != "promote":
        raise ValueError(
            f"{name} version {version}: recorded decision is {mv.tags.get('promotion.decision')!r}, "
            "not 'promote': it cannot become champion"
        )
    source = mv.tags.get(SOURCE_TAG)
    if source:
        client.set_registered_model_alias(name, source_alias(source), version)
    current = version_by_alias(client, name, CHAMPION)
    if current is None or not source or current.tags.get(SOURCE_TAG, source) == source:
        client.set_registered_model_alias(name, CHAMPION, version)


def settle_champion(client: MlflowClient, name: str, version: str) -> tuple[str, bool, str]:
    """After the gate: promote `version` when its recorded decision is `promote`, else keep the
    champion of its source. Returns (that champion's version, whether it moved, the recorded reason)."""
    mv = client.get_model_version(name, version)
    reason = mv.tags.get("promotion.reason", "no decision recorded")
    if mv.tags.get("promotion.decision") == "promote":
        promote_to_champion(client, name, version)
        return str(version), True, reason
    current = champion_for(client, name, mv.tags.get(SOURCE_TAG))
    if current is None:
        raise ValueError(f"{name}: version {version} was not promoted and its source has no champion")
    return str(current.version), False, reason


def recorded_decision(client: MlflowClient, name: str, version: str) -> PromotionDecision:
    """The decision the gate recorded on a version (ValueError when there is none)."""
    tags = client.get_model_version(name, version).tags
    if "promotion.decision" not in tags:
        raise ValueError(f"{name} version {version}: no promotion decision recorded")

    def scores(side: str) -> dict[str, float]:
        prefix = f"promotion.{side}."
        return {k.removeprefix(prefix): float(v) for k, v in tags.items() if k.startswith(prefix)}

    return PromotionDecision(
        promote=tags["promotion.decision"] == "promote",
        reason=tags.get("promotion.reason", ""),
        challenger=scores("challenger"),
        champion=scores("champion") or None,
    )
