"""Log a trained LightGBM model to MLflow, register it as `challenger`, and gate `champion`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import lightgbm as lgb
import matplotlib.pyplot as plt
import mlflow
import mlflow.data
import mlflow.lightgbm
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from mlflow.models import infer_signature

from karma_pipelines.tracking.registry import (
    CHALLENGER,
    CHAMPION,
    version_by_alias,
)
from karma_pipelines.tracking.store import MlflowTarget
from karma_pipelines.training.spec import ModelSpec


@dataclass(frozen=True)
class RegisteredModel:
    """A pointer into the registry, not a model: what Dagster metadata and later steps need."""

    name: str
    version: str
    run_id: str
    experiment_id: str
    model_uri: str
    run_url: str
    model_url: str


def log_and_register(
    target: MlflowTarget,
    *,
    spec: ModelSpec,
    booster: lgb.Booster,
    train_frame: pd.DataFrame,
    test_frame: pd.DataFrame,
    metrics: dict[str, dict[str, float]],
    tables: dict[str, pd.DataFrame],
    tags: dict[str, str],
    dataset_source: str,
    register: bool = True,
    id_column: str = "deploy_id",
    extra_params: dict[str, str] | None = None,
    plots: dict[str, Callable[[], Figure]] | None = None,
) -> RegisteredModel:
    """One MLflow run: params, metrics (`<prefix>_<metric>`), datasets, tables (`tables/<name>.json`),
    and the model with its signature and input example, registered as a new version with alias
    `challenger` (unless `register` is false: then the model is only logged, and `version` is empty)."""
    experiment_id = target.activate()
    with mlflow.start_run(tags=tags) as active:
        best = int(booster.best_iteration or booster.current_iteration())
        mlflow.log_params({**spec.log_params(), **(extra_params or {}), "best_iteration": str(best)})
        for prefix, values in metrics.items():
            mlflow.log_metrics(
                {f"{prefix}_{k}": float(v) for k, v in values.items() if np.isfinite(float(v))}
            )
        for context, frame in (("training", train_frame), ("test", test_frame)):
            dataset = mlflow.data.from_pandas(
                frame[[id_column, *spec.features, spec.target]].astype({spec.target: "int64"})
                if spec.target in frame
                else frame,
                source=dataset_source,
                name=f"{spec.name}-{context}",
                targets=spec.target if spec.target in frame else None,
            )
            mlflow.log_input(dataset, context=context)
        for name, table in tables.items():
            mlflow.log_table(table, artifact_file=f"tables/{name}.json")  # JSON, shown in the MLflow UI
        for name, draw in (plots or {}).items():
            figure = draw()
            mlflow.log_figure(figure, f"plots/{name}.png")
            plt.close(figure)
        example = test_frame[spec.features].head(5)
        info = mlflow.lightgbm.log_model(
            booster,
            name="model",
            signature=infer_signature(example, booster.predict(example)),
            input_example=example,
            registered_model_name=spec.registered_model_name if register else None,
        )
        run_id = active.info.run_id
    if not register:
        url = target.run_url(experiment_id, run_id)
        return RegisteredModel(spec.registered_model_name, "", run_id, experiment_id, info.model_uri, url, "")
    version = str(info.registered_model_version)
    client = target.client()
    client.set_registered_model_alias(spec.registered_model_name, CHALLENGER, version)
    for k, v in tags.items():
        client.set_model_version_tag(spec.registered_model_name, version, k, v)
    return RegisteredModel(
        name=spec.registered_model_name,
        version=version,
        run_id=run_id,
        experiment_id=experiment_id,
        model_uri=f"models:/{spec.registered_model_name}/{version}",
        run_url=target.run_url(experiment_id, run_id),
        model_url=target.model_url(spec.registered_model_name, version),
    )


def load_booster(target: MlflowTarget, name: str, alias: str = CHAMPION) -> lgb.Booster | None:
    """The booster behind `models:/<name>@<alias>`, or None when the alias is not set."""
    target.activate()
    if version_by_alias(target.client(), name, alias) is None:
        return None
    return mlflow.lightgbm.load_model(f"models:/{name}@{alias}")
