"""A model's declarative spec (models/<name>.yaml): features, target, LightGBM params, promotion gate.

Specs are pydantic models: a missing, misspelt or ill-typed key is a `ValidationError` naming the file
and the key (`split.test_fraction`, ...). Keys of a YAML section (`split:`, `lightgbm:`) are fields of
the spec itself (`spec.test_fraction`, `spec.params`), read through `AliasPath`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import (
    AliasPath,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from karma_pipelines.contracts.package_data import models_dir, spec_path
from karma_pipelines.sources.git.parse import load_text

MODELS_DIR = models_dir()

S = TypeVar("S", bound="SpecModel")


def _spec_path(name_or_path: str | Path) -> Path:
    """The file of a spec: a path (it has a suffix) as given, else the model spec `<name>.yaml`."""
    path = Path(name_or_path)
    return path if path.suffix else spec_path(str(name_or_path))


def section_field(section: str, key: str, default: Any = ..., **constraints: Any) -> Any:
    """A spec field read from `<section>.<key>` of the YAML file (required without a default)."""
    return Field(default, validation_alias=AliasPath(section, key), **constraints)


class SpecModel(BaseModel):
    """A frozen spec read from YAML (`read_spec`); an unknown key is an error."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True, validate_by_alias=True)

    @field_validator("description", mode="before", check_fields=False)
    @classmethod
    def _strip(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @property
    def features(self) -> list[str]:
        return [f for group in self.feature_groups.values() for f in group]


def _unknown_section_keys(model: type[SpecModel], raw: Any) -> list[dict]:
    """`extra="forbid"` inside the sections that fields read through `AliasPath`."""
    known: dict[str, set[str]] = {}
    for info in model.model_fields.values():
        if isinstance(info.validation_alias, AliasPath):
            section, key = info.validation_alias.path
            known.setdefault(str(section), set()).add(str(key))
    errors = []
    for section, keys in known.items():
        value = raw.get(section) if isinstance(raw, dict) else None
        if isinstance(value, dict):
            errors += [
                {"type": "extra_forbidden", "loc": (section, k), "input": value[k]}
                for k in value
                if k not in keys
            ]
    return errors


def read_spec(model: type[S], name_or_path: str | Path) -> S:
    """Validate the YAML file of a spec; all its errors at once, titled with the file."""
    path = _spec_path(name_or_path)
    raw = load_text(path.read_text(), str(path))  # the one YAML loader, with its budgets
    errors = _unknown_section_keys(model, raw)
    try:
        spec = model.model_validate(raw)
    except ValidationError as exc:
        errors = [*exc.errors(), *errors]
    if errors:
        raise ValidationError.from_exception_data(f"{model.__name__} ({path})", errors)
    return spec


class PromotionGate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    primary_metric: str
    min_primary_gain: float = 0.0
    pr_auc_tolerance: float = Field(0.0, ge=0.0)


class ModelSpec(SpecModel):
    name: str
    registered_model_name: str
    description: str = ""
    target: str
    feature_groups: dict[str, list[str]] = Field(validation_alias="features")
    categorical_features: list[str] = []
    test_fraction: float = section_field("split", "test_fraction", gt=0.0, lt=1.0)
    validation_fraction: float = section_field("split", "validation_fraction", ge=0.0, lt=1.0)
    params: dict[str, Any] = section_field("lightgbm", "params")
    num_boost_round: int = section_field("lightgbm", "num_boost_round", gt=0)
    early_stopping_rounds: int = section_field("lightgbm", "early_stopping_rounds", gt=0)
    promotion: PromotionGate
    population: dict[str, Any] = {}
    # Parameter overrides tried on the validation slice (never on the test period); best one wins.
    candidates: list[dict[str, Any]] = section_field("lightgbm", "candidates", [])
    selection_metric: str = section_field("lightgbm", "selection_metric", "binary_logloss")
    # Known directions (feature -> +1 risk only rises with it, -1 only falls): LightGBM's
    # monotone_constraints, so that a few rollbacks cannot teach that a recent revert makes a deploy safer.
    monotone: dict[str, int] = section_field("lightgbm", "monotone", {})
    # The graph's node/edge embeddings (features group `graph_embedding`) are used only when this is on.
    graph_embeddings: bool = False

    @model_validator(mode="before")
    @classmethod
    def _graph_embeddings_flag(cls, raw: Any) -> Any:
        """The `graph_embedding` feature group counts only with `graph_embeddings: true`."""
        features = raw.get("features") if isinstance(raw, dict) else None
        if isinstance(features, dict) and not raw.get("graph_embeddings"):
            raw = {**raw, "features": {g: f for g, f in raw["features"].items() if g != "graph_embedding"}}
        return raw

    def monotone_constraints(self) -> list[int]:
        """One entry per feature, in `features` order (0: free)."""
        return [int(self.monotone.get(f, 0)) for f in self.features]

    def log_params(self) -> dict[str, str]:
        """What MLflow records as the run's parameters."""
        params = {f"lgb.{k}": str(v) for k, v in self.params.items()}
        params.update(
            {
                "num_boost_round": str(self.num_boost_round),
                "early_stopping_rounds": str(self.early_stopping_rounds),
                "n_features": str(len(self.features)),
                "test_fraction": str(self.test_fraction),
                "candidates": str(len(self.candidates) or 1),
                "selection_metric": self.selection_metric,
            }
        )
        return params

    def without_groups(self, *groups: str) -> ModelSpec:
        """The same spec minus some feature groups (for ablations)."""
        kept = {g: f for g, f in self.feature_groups.items() if g not in groups}
        cats = [c for c in self.categorical_features if any(c in f for f in kept.values())]
        return self.model_copy(update={"feature_groups": kept, "categorical_features": cats})


def load_spec(name_or_path: str | Path) -> ModelSpec:
    """Load `models/<name>.yaml` (or a path); a bad key is a `ValidationError` naming the file and key."""
    return read_spec(ModelSpec, name_or_path)
