"""A model's declarative spec (models/<name>.yaml): features, target, LightGBM params, promotion gate."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"


@dataclass(frozen=True)
class PromotionGate:
    primary_metric: str
    min_primary_gain: float = 0.0
    pr_auc_tolerance: float = 0.0


@dataclass(frozen=True)
class ModelSpec:
    name: str
    registered_model_name: str
    description: str
    target: str
    feature_groups: dict[str, list[str]]
    categorical_features: list[str]
    test_fraction: float
    gap_days: float
    validation_fraction: float
    params: dict[str, Any]
    num_boost_round: int
    early_stopping_rounds: int
    promotion: PromotionGate
    population: dict[str, Any] = field(default_factory=dict)
    # Parameter overrides tried on the validation slice (never on the test period); best one wins.
    candidates: list[dict[str, Any]] = field(default_factory=list)
    selection_metric: str = "binary_logloss"

    @property
    def features(self) -> list[str]:
        return [f for group in self.feature_groups.values() for f in group]

    def log_params(self) -> dict[str, str]:
        """What MLflow records as the run's parameters."""
        params = {f"lgb.{k}": str(v) for k, v in self.params.items()}
        params.update(
            {
                "num_boost_round": str(self.num_boost_round),
                "early_stopping_rounds": str(self.early_stopping_rounds),
                "n_features": str(len(self.features)),
                "test_fraction": str(self.test_fraction),
                "gap_days": str(self.gap_days),
                "candidates": str(len(self.candidates) or 1),
                "selection_metric": self.selection_metric,
            }
        )
        return params

    def without_groups(self, *groups: str) -> ModelSpec:
        """The same spec minus some feature groups (for ablations)."""
        kept = {g: f for g, f in self.feature_groups.items() if g not in groups}
        cats = [c for c in self.categorical_features if any(c in f for f in kept.values())]
        return ModelSpec(**{**self.__dict__, "feature_groups": kept, "categorical_features": cats})


def load_spec(name_or_path: str | Path) -> ModelSpec:
    """Load `models/<name>.yaml` (or a path); a missing key is an error naming the file and key."""
    path = Path(name_or_path)
    if not path.suffix:
        path = MODELS_DIR / f"{name_or_path}.yaml"
    raw = yaml.safe_load(path.read_text())
    try:
        return ModelSpec(
            name=raw["name"],
            registered_model_name=raw["registered_model_name"],
            description=raw.get("description", "").strip(),
            target=raw["target"],
            feature_groups={g: list(f) for g, f in raw["features"].items()},
            categorical_features=list(raw.get("categorical_features", [])),
            test_fraction=float(raw["split"]["test_fraction"]),
            gap_days=float(raw["split"]["gap_days"]),
            validation_fraction=float(raw["split"]["validation_fraction"]),
            params=dict(raw["lightgbm"]["params"]),
            num_boost_round=int(raw["lightgbm"]["num_boost_round"]),
            early_stopping_rounds=int(raw["lightgbm"]["early_stopping_rounds"]),
            promotion=PromotionGate(**raw["promotion"]),
            population=dict(raw.get("population", {})),
            candidates=[dict(c) for c in raw["lightgbm"].get("candidates", [])],
            selection_metric=str(raw["lightgbm"].get("selection_metric", "binary_logloss")),
        )
    except KeyError as exc:
        raise ValueError(f"{path}: missing key {exc}") from exc
