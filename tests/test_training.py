"""Time-ordered split, metrics and the LightGBM trainer."""

import threading

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from karma_pipelines.bench.common import with_changes
from karma_pipelines.training import rollback_forecaster
from karma_pipelines.training.metrics import capture_at, evaluate
from karma_pipelines.training.rollback_forecaster import TIME, model_population, train_forecaster
from karma_pipelines.training.spec import load_spec
from karma_pipelines.training.split import time_split, validation_tail
from tests.synthetic import feature_table


def test_capture_at_counts_positives_in_the_riskiest_share():
    y = np.array([1, 0, 0, 1, 0, 0, 0, 0, 0, 1])
    s = np.array([0.9, 0.8, 0.1, 0.2, 0.3, 0.0, 0.0, 0.0, 0.0, 0.05])
    assert capture_at(y, s, 10) == pytest.approx(1 / 3)  # top 1 row: one of three positives
    assert capture_at(y, s, 50) == pytest.approx(2 / 3)
    m = evaluate(y, s)
    assert m["base_rate"] == pytest.approx(0.3) and m["positives"] == 3 and 0 < m["roc_auc"] < 1


def test_time_split_trains_on_the_past_with_a_gap():
    frame = feature_table(1000)
    gap = pd.Timedelta(days=2)
    split = time_split(frame, "deployed_at", 0.2, gap)
    assert split.train["deployed_at"].max() < split.split_at - gap + pd.Timedelta(0)
    assert split.test["deployed_at"].min() >= split.split_at
    in_gap = frame[(frame["deployed_at"] >= split.split_at - gap) & (frame["deployed_at"] < split.split_at)]
    assert len(split.train) + len(split.test) + len(in_gap) == len(frame)
    assert len(in_gap) > 0


def test_rows_in_time_order_are_split_into_views_of_the_same_rows_as_a_shuffled_copy_gives():
    spec = load_spec("rollback_forecaster")
    frame = feature_table(2000, seed=4)
    ordered = frame.sort_values("deployed_at", kind="stable", ignore_index=True)
    shuffled = ordered.sample(frac=1.0, random_state=1)  # split by masks and sorted, as before
    assert not shuffled["deployed_at"].is_monotonic_increasing
    assert ordered["deployed_at"].is_unique  # (so sorting the shuffled rows gives one order)
    population = model_population(ordered, spec)
    pd.testing.assert_frame_equal(population, model_population(shuffled, spec).sort_index())
    gap = pd.Timedelta(days=2)
    views, masked = time_split(population, TIME, 0.2, gap), time_split(shuffled, TIME, 0.2, gap)
    for side in ("train", "test"):
        fast, slow = getattr(views, side), getattr(masked, side)
        pd.testing.assert_frame_equal(fast, slow.sort_index().loc[fast.index])
        assert len(fast) == len(slow) > 0
        column = fast["n_fields_touched"].to_numpy()
        assert np.shares_memory(column, population["n_fields_touched"].to_numpy())  # a view: no copy
    fit, valid = validation_tail(views.train, TIME, 0.25)
    slow_fit, slow_valid = validation_tail(masked.train, TIME, 0.25)
    assert (len(fit), len(valid)) == (len(slow_fit), len(slow_valid))
    pd.testing.assert_frame_equal(fit, slow_fit.loc[fit.index])
    pd.testing.assert_frame_equal(valid, slow_valid.loc[valid.index])
    assert np.shares_memory(fit["n_fields_touched"].to_numpy(), population["n_fields_touched"].to_numpy())


def test_trainer_learns_the_signal_and_stops_early():
    spec = load_spec("rollback_forecaster")
    run = train_forecaster(feature_table(4000, seed=1), spec, pd.Timedelta(days=7))
    assert run.metrics["roc_auc"] > 0.8
    assert run.metrics["capture_at_10"] > 0.2
    assert run.best_iteration < spec.num_boost_round  # LightGBM's early stopping stopped it
    assert set(run.importance["feature"].head(3)) & {"n_fields_touched", "is_off_hours", "in_degree"}
    assert run.predictions["deployed_at"].min() >= run.split.split_at


def test_population_excludes_rollbacks_and_unlabelled_rows():
    frame = feature_table(100)
    frame.loc[:9, "is_rollback"] = True
    frame.loc[10:19, "labelled"] = False
    frame.loc[10:19, "rolled_back"] = pd.NA
    rows = model_population(frame, load_spec("rollback_forecaster"))
    assert len(rows) == 80 and rows["deployed_at"].is_monotonic_increasing


def test_a_split_without_rollbacks_is_a_clear_error():
    frame = feature_table(500)
    frame["rolled_back"] = pd.array([False] * len(frame), dtype="boolean")
    with pytest.raises(ValueError, match="without a rollback"):
        train_forecaster(frame, load_spec("rollback_forecaster"), pd.Timedelta(days=7))


def test_a_split_whose_test_period_holds_only_rollbacks_is_refused():
    frame = feature_table(2000, seed=5)
    late = frame["deployed_at"] >= frame["deployed_at"].quantile(0.8)
    frame.loc[late, "rolled_back"] = True
    with pytest.raises(ValueError, match="test period .* without a deploy that was not rolled back"):
        train_forecaster(frame, load_spec("rollback_forecaster"), pd.Timedelta(days=7))


def test_the_gap_is_the_label_horizon():
    frame = feature_table(3000, seed=6)
    for days in (7, 14):
        run = train_forecaster(frame, load_spec("rollback_forecaster"), pd.Timedelta(days=days))
        assert run.split.split_at - run.split.train_end == pd.Timedelta(days=days)
        assert run.split.train["deployed_at"].max() < run.split.split_at - pd.Timedelta(days=days)


def test_monotone_history_features_never_lower_the_risk():
    """Even when the training rows say the opposite, more known reverts of a component never make a
    deploy look safer (the spec's `monotone`); without the constraint the model learns the reverse."""
    frame = feature_table(3000, seed=1)
    rng = np.random.default_rng(1)
    frame["comp_reverts_30d"] = rng.integers(0, 5, len(frame)).astype(float)
    frame["rolled_back"] = pd.array(
        rng.random(len(frame)) < 0.3 / (1 + frame["comp_reverts_30d"]), dtype="boolean"
    )
    spec = load_spec("rollback_forecaster")
    assert spec.monotone["comp_reverts_30d"] == 1
    probe = frame.tail(50).copy()

    def risk_by_reverts(s):
        run = train_forecaster(frame, s, pd.Timedelta(hours=1))
        return [run.booster.predict(probe.assign(comp_reverts_30d=v)[s.features]).mean() for v in range(5)]

    constrained = risk_by_reverts(spec)
    assert all(b >= a - 1e-12 for a, b in zip(constrained, constrained[1:], strict=False))
    free = risk_by_reverts(spec.model_copy(update={"monotone": {}}))
    assert free[-1] < free[0]  # what the rows alone teach


def _param_sets(spec):
    return [{**spec.params, **override} for override in ({}, *spec.candidates)]


def test_candidates_are_fitted_side_by_side_and_each_is_the_booster_a_fit_alone_makes(monkeypatch):
    spec = load_spec("rollback_forecaster")
    fit, valid = validation_tail(model_population(feature_table(3000, seed=2), spec), TIME, 0.25)
    threads, train = [], lgb.train

    def recording(*args, **kwargs):
        threads.append(threading.current_thread().name)
        return train(*args, **kwargs)

    monkeypatch.setattr(lgb, "train", recording)
    monkeypatch.setattr(rollback_forecaster, "cpus", lambda: 2)
    side_by_side = rollback_forecaster._fit_in_process(fit, valid, spec, _param_sets(spec))
    assert len(side_by_side) == 1 + len(spec.candidates)
    assert all(name.startswith("lightgbm-fit") for name in threads)
    threads.clear()
    monkeypatch.setattr(rollback_forecaster, "cpus", lambda: 1)
    in_turn = rollback_forecaster._fit_in_process(fit, valid, spec, _param_sets(spec))
    assert threads == [threading.main_thread().name] * len(in_turn)
    for alone, beside in zip(in_turn, side_by_side, strict=True):
        assert beside.model_to_string() == alone.model_to_string()


@pytest.mark.parametrize(
    ("threads", "cpus", "fits", "expected"),
    [(1, 2, 3, 2), (1, 8, 3, 3), (2, 2, 3, 1), (2, 4, 3, 2), (0, 8, 3, 1), (None, 8, 3, 1)],
)
def test_fits_at_once_are_what_the_cpus_hold_at_the_specs_threads(monkeypatch, threads, cpus, fits, expected):
    spec = load_spec("rollback_forecaster")
    params = {k: v for k, v in spec.params.items() if k != "num_threads"}
    spec = with_changes(spec, params=params if threads is None else {**params, "nthread": threads})
    monkeypatch.setattr(rollback_forecaster, "cpus", lambda: cpus)
    assert rollback_forecaster.fit_threads(fits, spec) == expected
