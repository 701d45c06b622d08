"""Train and evaluate the rollback forecaster (LightGBM) on a time-ordered split."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd

from karma_pipelines.parallel import cpus
from karma_pipelines.profile import current_profile
from karma_pipelines.training.dask_trainer import THREAD_PARAMS, fit_on_dask
from karma_pipelines.training.metrics import evaluate
from karma_pipelines.training.spec import ModelSpec
from karma_pipelines.training.split import TimeSplit, time_split, validation_tail

TIME = "deployed_at"


@dataclass
class ForecasterRun:
    """A trained forecaster with everything needed to log, compare and explain it."""

    booster: lgb.Booster
    spec: ModelSpec
    split: TimeSplit
    metrics: dict[str, float]  # on the test period
    validation_metrics: dict[str, float]
    predictions: pd.DataFrame  # test rows: deploy_id, deployed_at, component, label, score
    importance: pd.DataFrame  # feature, gain, splits
    chosen_params: dict  # the candidate the validation slice picked (empty: the spec's own)

    @property
    def best_iteration(self) -> int:
        return int(self.booster.best_iteration or self.booster.current_iteration())


def model_population(features: pd.DataFrame, spec: ModelSpec) -> pd.DataFrame:
    """Rows the model learns from and is judged on (see `population` in the spec), in time order: one
    copy of the rows kept (features in time order, as `build_rollback_features` makes them, are not
    sorted again)."""
    keep = np.ones(len(features), dtype=bool)
    if spec.population.get("exclude_rollback_deploys", True):
        keep &= ~features["is_rollback"].astype(bool).to_numpy()
    if spec.population.get("labelled_only", True):
        keep &= (features["labelled"].astype(bool) & features[spec.target].notna()).to_numpy()
    rows = features[keep]
    return rows if rows[TIME].is_monotonic_increasing else rows.sort_values(TIME, kind="stable")


def labels(frame: pd.DataFrame, spec: ModelSpec) -> np.ndarray:
    return frame[spec.target].astype("int64").to_numpy()


def _dataset(
    x: pd.DataFrame, y: np.ndarray, spec: ModelSpec, params: dict, reference: lgb.Dataset | None = None
) -> lgb.Dataset:
    """A Dataset made here with the parameters it is trained with, so `lgb.train` has nothing to change
    in it (the raw frame is kept: LightGBM rebuilds from it when parameters differ)."""
    return lgb.Dataset(
        x,
        label=y,
        categorical_feature=spec.categorical_features or "auto",
        reference=reference,
        params=params,
        free_raw_data=False,
    ).construct()


def train_forecaster(
    features: pd.DataFrame,
    spec: ModelSpec,
    horizon: pd.Timedelta,
    split_at: pd.Timestamp | None = None,
    dask_scheduler: str | None = None,
) -> ForecasterRun:
    """Fit on the past with LightGBM's own early stopping on the latest training slice; test on the future.

    The gap between training and test is the label horizon the features were labelled with, so no
    training label can see into the test period. Raises ValueError when either side of the split
    lacks a rollback or a deploy that was not rolled back (nothing to learn or judge from).
    `dask_scheduler`: see `fit_with_selection`.
    """
    population = model_population(features, spec)
    split = time_split(population, TIME, spec.test_fraction, horizon, split_at)
    del population  # the split holds its own rows: one copy of the deploys less while LightGBM trains
    for side, rows in (("training", split.train), ("test", split.test)):
        positives = int(labels(rows, spec).sum()) if len(rows) else 0
        if rows.empty or positives == 0 or positives == len(rows):
            what = "a rollback" if positives == 0 else "a deploy that was not rolled back"
            raise ValueError(
                f"the split at {split.split_at:%Y-%m-%d} leaves the {side} period "
                f"({len(rows)} deploys, {positives} rolled back) without {what}: use a longer "
                "history or another --split-date"
            )
    fit, valid = validation_tail(split.train, TIME, spec.validation_fraction)
    booster, chosen = fit_with_selection(fit, valid, spec, dask_scheduler)
    scores = predict(booster, split.test, spec)
    predictions = split.test[["deploy_id", TIME, "component"]].assign(
        label=labels(split.test, spec), score=scores
    )
    importance = pd.DataFrame(
        {
            "feature": booster.feature_name(),
            "gain": booster.feature_importance("gain"),
            "splits": booster.feature_importance("split"),
        }
    ).sort_values("gain", ascending=False, ignore_index=True)
    return ForecasterRun(
        booster=booster,
        spec=spec,
        split=split,
        metrics=evaluate(predictions["label"], scores),
        validation_metrics=evaluate(labels(valid, spec), predict(booster, valid, spec)),
        predictions=predictions.reset_index(drop=True),
        importance=importance,
        chosen_params=chosen,
    )


LOWER_IS_BETTER = {"binary_logloss", "binary_error", "cross_entropy"}


def fit_with_selection(
    fit: pd.DataFrame, valid: pd.DataFrame, spec: ModelSpec, dask_scheduler: str | None = None
) -> tuple[lgb.Booster, dict]:
    """Train the spec's parameters and each candidate override with LightGBM's early stopping on
    `valid`; keep the one with the best validation score (`selection_metric`). In this process, or on
    the Dask cluster at `dask_scheduler` (default: the profile's `KARMA_DASK_SCHEDULER`, see
    `karma_pipelines.profile`)."""
    if dask_scheduler is None:
        dask_scheduler = current_profile().dask_scheduler
    monotone = {"monotone_constraints": spec.monotone_constraints()} if spec.monotone else {}
    overrides = [{}, *spec.candidates]
    param_sets = [{**spec.params, **monotone, **override} for override in overrides]
    if dask_scheduler:
        boosters = fit_on_dask(dask_scheduler, fit, valid, spec, param_sets, [_early_stopping(spec)])
    else:
        boosters = _fit_in_process(fit, valid, spec, param_sets)
    sign = 1.0 if spec.selection_metric in LOWER_IS_BETTER else -1.0
    scores = [sign * b.best_score["validation"][spec.selection_metric] for b in boosters]
    best = int(np.argmin(scores))  # the first of equals, as before: the spec's own parameters
    return boosters[best], overrides[best]


def _fit_in_process(
    fit: pd.DataFrame, valid: pd.DataFrame, spec: ModelSpec, param_sets: list[dict]
) -> list[lgb.Booster]:
    """One booster per parameter set, fitted side by side in threads (`fit_threads`): LightGBM lets go of
    the interpreter lock while it boosts. Each fit has Datasets of its own, constructed here in turn with
    its parameters (one binning of the same frames each; no thread touches another's), so every booster
    is the one a fit alone makes."""
    x_fit, x_valid = fit[spec.features], valid[spec.features]
    y_fit, y_valid = labels(fit, spec), labels(valid, spec)
    pairs = []
    for params in param_sets:
        train_set = _dataset(x_fit, y_fit, spec, params)
        pairs.append((params, train_set, _dataset(x_valid, y_valid, spec, params, reference=train_set)))

    def train(pair: tuple[dict, lgb.Dataset, lgb.Dataset]) -> lgb.Booster:
        params, train_set, valid_set = pair
        return lgb.train(
            params,
            train_set,
            num_boost_round=spec.num_boost_round,
            valid_sets=[valid_set],
            valid_names=["validation"],
            callbacks=[_early_stopping(spec)],
        )

    workers = fit_threads(len(param_sets), spec)
    if workers < 2:
        return [train(pair) for pair in pairs]
    with ThreadPoolExecutor(workers, thread_name_prefix="lightgbm-fit") as pool:
        return list(pool.map(train, pairs))


def fit_threads(fits: int, spec: ModelSpec) -> int:
    """Fits run at once: as many as this machine's CPUs hold at the spec's `num_threads` each (0 or
    unset: LightGBM's own OpenMP default, every CPU, so one at a time); never more than `fits`."""
    per_fit = int(next((spec.params[k] for k in THREAD_PARAMS if k in spec.params), 0) or 0)
    return max(1, min(fits, cpus() // per_fit)) if per_fit > 0 else 1


def _early_stopping(spec: ModelSpec):
    """LightGBM's early stopping on the first metric (the spec's `metric` order)."""
    return lgb.early_stopping(spec.early_stopping_rounds, first_metric_only=True, verbose=False)


def predict(booster: lgb.Booster, frame: pd.DataFrame, spec: ModelSpec) -> np.ndarray:
    return booster.predict(frame[spec.features], num_iteration=booster.best_iteration or None)
