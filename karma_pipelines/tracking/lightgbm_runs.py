"""Log a trained LightGBM model to MLflow and register it as `challenger` (the gate decides `champion`)."""

from __future__ import annotations

import datetime as dt
import functools
import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import matplotlib.pyplot as plt
import mlflow
import mlflow.data
import mlflow.lightgbm
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from mlflow.data.digest_utils import get_normalized_md5_digest
from mlflow.data.pandas_dataset import PandasDataset
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.types import ColSpec, Schema

from karma_pipelines.tracking.lineage import FINGERPRINT_TAG, SOURCE_TAG, fingerprint, source_key
from karma_pipelines.tracking.liveness import RUNNER_TAG, runner_token
from karma_pipelines.tracking.registry import (
    CHALLENGER,
    CHAMPION,
    version_by_alias,
)
from karma_pipelines.tracking.store import MlflowTarget
from karma_pipelines.training.spec import ModelSpec

SCHEMA_SAMPLE = 1000  # rows the column types are inferred from (whether one is missing: from all)


def pandas_dataset(frame: pd.DataFrame, source: str, name: str, targets: str | None) -> PandasDataset:
    """`mlflow.data.from_pandas`, with its digest and schema made from the frame's columns at once:
    MLflow's own calls a Python function per value for both (16 s for 100k rows x 50 columns). The
    digest hashes every row (`pandas.util.hash_pandas_object`, MLflow's normalisation); the types are
    inferred by MLflow from a sample, `required` (no value missing) from every row."""
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    digest = get_normalized_md5_digest([hashed, np.int64(len(frame))])
    dataset = mlflow.data.from_pandas(frame, source=source, name=name, targets=targets, digest=digest)
    sampled = infer_signature(frame.head(SCHEMA_SAMPLE)).inputs
    missing = frame.isna().any()
    schema = Schema(
        [
            ColSpec(type=col.type, name=col.name, required=not bool(missing[col.name]))
            for col in sampled.inputs
        ]
    )
    dataset.__dict__["schema"] = schema  # PandasDataset.schema is a cached_property: this is its value
    return dataset


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
    unchanged: bool = False  # an existing version made from the same data and code: nothing registered


# What a logged model needs at load time, pinned to the versions installed from uv.lock: given to MLflow
# so it neither infers them (seconds, and uv/pip remarks on every run) nor guesses.
RUNTIME_DISTRIBUTIONS = ("lightgbm", "numpy", "pandas", "scikit-learn", "mlflow")
# Metric groups not measured on the test dataset: `validation` is the early-stopping slice of the
# training period; `planted_*` (the suggester's planted mistakes) are over the whole corpus.
TRAINING_METRIC_GROUPS = ("validation",)
UNTIED_METRIC_PREFIXES = ("planted",)
NOTE = "mlflow.note.content"  # the description MLflow shows for a run


@functools.cache
def pip_requirements() -> tuple[str, ...]:
    """`name==version` of the runtime distributions as installed (the lock's pins)."""
    return tuple(f"{name}=={importlib.metadata.version(name)}" for name in RUNTIME_DISTRIBUTIONS)


def source_label(tags: dict[str, str], dataset_source: str) -> str:
    """`<kind>:<name>` of the source a run learnt from (`events:world`, `git:infra`)."""
    path = Path(dataset_source)
    kind = tags.get("source.kind")
    if not kind:
        if (path / ".git").exists() or (path / "HEAD").is_file():
            kind = "git"
        elif (path / "events").is_dir():
            kind = "events"
        else:
            kind = "source"
    return f"{kind}:{path.name or dataset_source}"


def headline_metrics(metrics: dict[str, dict[str, float]]) -> dict[str, float]:
    """The metrics a description quotes: the test group (forecaster) or the gate's (suggester)."""
    return metrics.get("test") or metrics.get("gate") or {}


def format_metrics(values: dict[str, float], limit: int = 8) -> str:
    """`metric value, ...` for a description (counts left out: the text says how many rows)."""
    counts = ("n", "positives")
    shown = [(k, float(v)) for k, v in values.items() if k not in counts and np.isfinite(float(v))][:limit]
    return ", ".join(f"{k} {v:.4g}" for k, v in shown) or "none"


def describe_run(
    spec: ModelSpec,
    train: pd.DataFrame,
    test: pd.DataFrame,
    source: str,
    tags: dict[str, str],
    metrics: dict[str, float],
) -> str:
    """Markdown: what the model is, what it was trained and tested on, its test metrics, its links."""
    what = " ".join(str(spec.description).split())
    lines = [
        f"**{spec.name}**: {what}" if what else f"**{spec.name}**",
        "",
        f"Trained on {len(train):,} rows and tested on {len(test):,} later rows of `{source}`.",
        "",
        f"Test metrics: {format_metrics(metrics)}.",
    ]
    if tags.get("dagster.run_url"):
        lines += [
            "",
            f"Made by [Dagster run {tags.get('dagster.run_id', '')[:8]}]({tags['dagster.run_url']}).",
        ]
    return "\n".join(lines)


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
    """One MLflow run named `<model> · <source kind>:<source name> · <date>`, with a description: params,
    datasets, the model (named after the spec, with its signature, input example and pinned
    environment), metrics (`<prefix>_<metric>`, tied to the logged model and to the dataset they were
    measured on), tables (`tables/<name>.json`) and plots; registered as a new version with alias
    `challenger` (unless `register` is false: then the model is only logged, and `version` is empty)."""
    experiment_id = target.activate()
    source = source_label(tags, dataset_source)
    run_name = f"{spec.name} · {source} · {dt.datetime.now(dt.UTC):%Y-%m-%d}"
    description = describe_run(spec, train_frame, test_frame, source, tags, headline_metrics(metrics))
    key = source_key(tags, dataset_source)
    columns = [id_column, *spec.features, spec.target]
    tags = {
        **tags,
        RUNNER_TAG: runner_token(),  # a run left RUNNING by a killed process is closed later
        SOURCE_TAG: key,
        FINGERPRINT_TAG: fingerprint(spec.log_params(), tags, key, [train_frame, test_frame], columns),
    }
    if register:
        same = unchanged_version(target, spec.registered_model_name, tags[FINGERPRINT_TAG])
        if same is not None:
            return same
    with mlflow.start_run(run_name=run_name, tags=tags, description=description) as active:
        best = int(booster.best_iteration or booster.current_iteration())
        mlflow.log_params({**spec.log_params(), **(extra_params or {}), "best_iteration": str(best)})
        datasets = {}
        for context, frame in (("training", train_frame), ("test", test_frame)):
            datasets[context] = pandas_dataset(
                frame[[id_column, *spec.features, spec.target]].astype({spec.target: "int64"})
                if spec.target in frame
                else frame,
                source=dataset_source,
                name=f"{spec.name}-{context}",
                targets=spec.target if spec.target in frame else None,
            )
            mlflow.log_input(datasets[context], context=context)
        example = test_frame[spec.features].head(5)
        info = mlflow.lightgbm.log_model(
            booster,
            name=spec.name,
            signature=infer_signature(example, booster.predict(example)),
            input_example=example,
            pip_requirements=list(pip_requirements()),
        )
        for prefix, values in metrics.items():
            finite = {f"{prefix}_{k}": float(v) for k, v in values.items() if np.isfinite(float(v))}
            if not finite:
                continue
            if prefix.startswith(UNTIED_METRIC_PREFIXES):
                dataset = None
            else:
                dataset = datasets["training" if prefix in TRAINING_METRIC_GROUPS else "test"]
            mlflow.log_metrics(finite, model_id=info.model_id, dataset=dataset)
        for name, table in tables.items():
            mlflow.log_table(table, artifact_file=f"tables/{name}.json")  # JSON, shown in the MLflow UI
        for name, draw in (plots or {}).items():
            figure = draw()
            mlflow.log_figure(figure, f"plots/{name}.png")
            plt.close(figure)
        run_id = active.info.run_id
    if not register:
        url = target.run_url(experiment_id, run_id)
        return RegisteredModel(spec.registered_model_name, "", run_id, experiment_id, info.model_uri, url, "")
    client = target.client()
    name = spec.registered_model_name
    what = " ".join(str(spec.description).split())
    try:
        client.create_registered_model(name, description=what)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        client.update_registered_model(name, description=what)
    created = client.create_model_version(
        name, source=info.model_uri, run_id=run_id, tags=tags, description=description,
        model_id=info.model_id,
    )  # fmt: skip
    version = str(created.version)
    client.set_registered_model_alias(name, CHALLENGER, version)
    return RegisteredModel(
        name=name,
        version=version,
        run_id=run_id,
        experiment_id=experiment_id,
        model_uri=f"models:/{name}/{version}",
        run_url=target.run_url(experiment_id, run_id),
        model_url=target.model_url(name, version),
    )


def unchanged_version(target: MlflowTarget, name: str, fingerprint: str) -> RegisteredModel | None:
    """The latest version of `name` when it was made from the same data and code (its fingerprint),
    else None. Only the latest: after another version, the same input is a new challenge."""
    client = target.client()
    try:
        versions = client.search_model_versions(f"name = '{name}'", order_by=["version_number DESC"])
    except MlflowException:
        return None
    if not versions or versions[0].tags.get(FINGERPRINT_TAG) != fingerprint:
        return None
    latest = versions[0]
    run = client.get_run(latest.run_id)
    client.set_registered_model_alias(name, CHALLENGER, str(latest.version))
    return RegisteredModel(
        name=name,
        version=str(latest.version),
        run_id=latest.run_id,
        experiment_id=run.info.experiment_id,
        model_uri=f"models:/{name}/{latest.version}",
        run_url=target.run_url(run.info.experiment_id, latest.run_id),
        model_url=target.model_url(name, latest.version),
        unchanged=True,
    )


def load_version(target: MlflowTarget, name: str, version: str) -> lgb.Booster:
    """The booster of one version of a registered model."""
    target.activate()
    return mlflow.lightgbm.load_model(f"models:/{name}/{version}")


def load_booster(target: MlflowTarget, name: str, alias: str = CHAMPION) -> lgb.Booster | None:
    """The booster behind `models:/<name>@<alias>`, or None when the alias is not set."""
    target.activate()
    if version_by_alias(target.client(), name, alias) is None:
        return None
    return mlflow.lightgbm.load_model(f"models:/{name}@{alias}")
