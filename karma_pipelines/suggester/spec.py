"""The suggester's declarative spec (models/config_field_suggester.yaml), a pydantic model: a bad key
is a `ValidationError` naming the file and the key (`suggest.unused_threshold`, ...)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator

from karma_pipelines.training.spec import PromotionGate, SpecModel, read_spec, section_field

SPEC_NAME = "config_field_suggester"

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


class SuggesterSpec(SpecModel):
    name: str
    registered_model_name: str
    description: str = ""
    target: str
    feature_groups: dict[str, list[str]] = Field(validation_alias="features")
    params: dict[str, Any] = section_field("lightgbm", "params")
    num_boost_round: int = section_field("lightgbm", "num_boost_round", gt=0)
    early_stopping_rounds: int = section_field("lightgbm", "early_stopping_rounds", gt=0)
    promotion: PromotionGate
    min_support: int = section_field("corpus", "min_support", 2, ge=1)
    min_rule_support: int = section_field("corpus", "min_rule_support", 2, ge=1)
    neighbours: int = section_field("corpus", "neighbours", 10, ge=1)
    max_vocabulary: int = section_field("corpus", "max_vocabulary", 3000, ge=1)
    negatives_per_config: int = section_field("sampling", "negatives_per_config", 40, ge=0)
    foreign_per_config: int = section_field("sampling", "foreign_per_config", 2, ge=0)
    typos_per_config: int = section_field("sampling", "typos_per_config", 2, ge=0)
    new_names_per_config: int = section_field("sampling", "new_names_per_config", 1, ge=0)
    twin_removals: Fraction = section_field("sampling", "twin_removals", 0.5)
    twin_additions: Fraction = section_field("sampling", "twin_additions", 0.3)
    max_train_configs: int = section_field("sampling", "max_train_configs", 4000, ge=1)
    seed: int = section_field("sampling", "seed", 11)
    test_fraction: float = section_field("split", "test_fraction", 0.25, gt=0.0, lt=1.0)
    validation_fraction: float = section_field("split", "validation_fraction", 0.2, ge=0.0, lt=1.0)
    min_field_configs: int = section_field("evaluation", "min_field_configs", 5, ge=1)
    injected_per_config: int = section_field("evaluation", "injected_per_config", 2, ge=0)
    # None (`auto` in the file): tuned on the validation components.
    unused_threshold: Annotated[float, Field(gt=0.0, lt=1.0)] | None = section_field(
        "suggest", "unused_threshold", None
    )
    missing_threshold: Fraction = section_field("suggest", "missing_threshold", 0.5)
    code_floor: Fraction = section_field("suggest", "code_floor", 0.9)
    ranker_folds: int = section_field("ranker", "folds", 4, ge=0)
    ranker_weights: list[Fraction] = section_field("ranker", "model_weights", [0.0, 0.25, 0.5, 0.75, 1.0])
    ranker_max_configs: int = section_field("ranker", "max_configs", 600, ge=1)
    ranker_max_cases: int = section_field("ranker", "max_cases", 2000, ge=1)
    ranker_min_gain: float = section_field("ranker", "min_gain", 0.0, ge=0.0)
    ranker_max_rows: int = section_field("ranker", "max_rows", 30000, ge=1)
    ranker_max_rounds: int = section_field("ranker", "max_rounds", 60, ge=1)
    categorical_features: list[str] = []

    @field_validator("unused_threshold", mode="before")
    @classmethod
    def _auto(cls, value: Any) -> Any:
        return None if isinstance(value, str) and value.strip().lower() == "auto" else value

    def without_groups(self, *groups: str) -> SuggesterSpec:
        """The same spec minus some feature groups (for ablations)."""
        kept = {g: f for g, f in self.feature_groups.items() if g not in groups}
        return self.model_copy(update={"feature_groups": kept})

    def log_params(self) -> dict[str, str]:
        """Flat string params for MLflow (what `log_and_register` logs)."""
        out = {f"lgb.{k}": str(v) for k, v in self.params.items()}
        for key in (
            "num_boost_round", "early_stopping_rounds", "min_support", "min_rule_support", "neighbours",
            "max_vocabulary", "negatives_per_config", "foreign_per_config", "typos_per_config",
            "new_names_per_config", "twin_removals", "twin_additions",
            "max_train_configs", "test_fraction", "validation_fraction", "min_field_configs",
            "missing_threshold", "code_floor", "ranker_folds", "ranker_max_configs", "ranker_max_cases",
            "ranker_min_gain", "ranker_max_rows", "ranker_max_rounds",
        ):  # fmt: skip
            out[key] = str(getattr(self, key))
        out["unused_threshold"] = "auto" if self.unused_threshold is None else str(self.unused_threshold)
        out["n_features"] = str(len(self.features))
        return out


def load_suggester_spec(name_or_path: str | Path = SPEC_NAME) -> SuggesterSpec:
    """Load `models/<name>.yaml` (or a path); a bad key is a `ValidationError` naming the file and key."""
    return read_spec(SuggesterSpec, name_or_path)
