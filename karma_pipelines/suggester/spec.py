"""The suggester's declarative spec (models/config_field_suggester.yaml)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from karma_pipelines.training.spec import MODELS_DIR, PromotionGate

SPEC_NAME = "config_field_suggester"


@dataclass(frozen=True)
class SuggesterSpec:
    name: str
    registered_model_name: str
    description: str
    target: str
    feature_groups: dict[str, list[str]]
    params: dict[str, Any]
    num_boost_round: int
    early_stopping_rounds: int
    promotion: PromotionGate
    min_support: int = 2
    min_rule_support: int = 2
    neighbours: int = 10
    max_vocabulary: int = 3000
    negatives_per_config: int = 40
    foreign_per_config: int = 2
    typos_per_config: int = 2
    new_names_per_config: int = 1
    twin_removals: float = 0.5
    twin_additions: float = 0.3
    max_train_configs: int = 4000
    seed: int = 11
    test_fraction: float = 0.25
    validation_fraction: float = 0.2
    min_field_configs: int = 5
    injected_per_config: int = 2
    unused_threshold: float | None = None  # None: tuned on the validation components
    missing_threshold: float = 0.5
    code_floor: float = 0.9
    categorical_features: list[str] = field(default_factory=list)

    @property
    def features(self) -> list[str]:
        return [f for group in self.feature_groups.values() for f in group]

    def without_groups(self, *groups: str) -> SuggesterSpec:
        """The same spec minus some feature groups (for ablations)."""
        return replace(self, feature_groups={g: f for g, f in self.feature_groups.items() if g not in groups})

    def log_params(self) -> dict[str, str]:
        """Flat string params for MLflow (what `log_and_register` logs)."""
        out = {f"lgb.{k}": str(v) for k, v in self.params.items()}
        for key in (
            "num_boost_round", "early_stopping_rounds", "min_support", "min_rule_support", "neighbours",
            "max_vocabulary", "negatives_per_config", "foreign_per_config", "typos_per_config",
            "new_names_per_config", "twin_removals", "twin_additions",
            "max_train_configs", "test_fraction", "validation_fraction", "min_field_configs",
            "missing_threshold", "code_floor",
        ):  # fmt: skip
            out[key] = str(getattr(self, key))
        out["unused_threshold"] = "auto" if self.unused_threshold is None else str(self.unused_threshold)
        out["n_features"] = str(len(self.features))
        return out


def _threshold(value: Any) -> float | None:
    if value is None or str(value).strip().lower() == "auto":
        return None
    number = float(value)
    if not 0.0 < number < 1.0:
        raise ValueError(f"suggest.unused_threshold must be in (0, 1) or auto, got {value!r}")
    return number


def load_suggester_spec(name_or_path: str | Path = SPEC_NAME) -> SuggesterSpec:
    """Load `models/<name>.yaml` (or a path); a missing key is an error naming the file and key."""
    path = Path(name_or_path)
    if not path.suffix:
        path = MODELS_DIR / f"{name_or_path}.yaml"
    raw = yaml.safe_load(path.read_text())
    try:
        corpus, sampling = raw.get("corpus", {}), raw.get("sampling", {})
        split, evaluation, suggest = raw.get("split", {}), raw.get("evaluation", {}), raw.get("suggest", {})
        return SuggesterSpec(
            name=raw["name"],
            registered_model_name=raw["registered_model_name"],
            description=raw.get("description", "").strip(),
            target=raw["target"],
            feature_groups={g: list(f) for g, f in raw["features"].items()},
            params=dict(raw["lightgbm"]["params"]),
            num_boost_round=int(raw["lightgbm"]["num_boost_round"]),
            early_stopping_rounds=int(raw["lightgbm"]["early_stopping_rounds"]),
            promotion=PromotionGate(**raw["promotion"]),
            min_support=int(corpus.get("min_support", 2)),
            min_rule_support=int(corpus.get("min_rule_support", 2)),
            neighbours=int(corpus.get("neighbours", 10)),
            max_vocabulary=int(corpus.get("max_vocabulary", 3000)),
            negatives_per_config=int(sampling.get("negatives_per_config", 40)),
            foreign_per_config=int(sampling.get("foreign_per_config", 2)),
            typos_per_config=int(sampling.get("typos_per_config", 2)),
            new_names_per_config=int(sampling.get("new_names_per_config", 1)),
            twin_removals=float(sampling.get("twin_removals", 0.5)),
            twin_additions=float(sampling.get("twin_additions", 0.3)),
            max_train_configs=int(sampling.get("max_train_configs", 4000)),
            seed=int(sampling.get("seed", 11)),
            test_fraction=float(split.get("test_fraction", 0.25)),
            validation_fraction=float(split.get("validation_fraction", 0.2)),
            min_field_configs=int(evaluation.get("min_field_configs", 5)),
            injected_per_config=int(evaluation.get("injected_per_config", 2)),
            unused_threshold=_threshold(suggest.get("unused_threshold")),
            missing_threshold=float(suggest.get("missing_threshold", 0.5)),
            code_floor=float(suggest.get("code_floor", 0.9)),
            categorical_features=list(raw.get("categorical_features", [])),
        )
    except KeyError as exc:
        raise ValueError(f"{path}: missing key {exc}") from exc
