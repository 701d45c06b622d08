"""Promotion strategies: the simulator's habits are read back from the log exactly, the doubly robust
estimator recovers confounded effects, and the asset shows its summary, numbers and figure."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from karma_pipelines.bench.strategies import judge, rankings, truth_of
from karma_pipelines.contracts.promotion_strategies import BASELINE, STRATEGIES
from karma_pipelines.defs.strategies import promotion_strategies
from karma_pipelines.records import deploy_tables_from_events
from karma_pipelines.simulator import SimulationConfig, simulate_world
from karma_pipelines.sources.event_log import read_event_log
from karma_pipelines.strategies.estimate import estimate_strategies
from karma_pipelines.strategies.promotions import promotions_table
from karma_pipelines.strategies.report import compute, plot
from tests.factories import clean_world_events

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
HABITS = SimulationConfig(seed=5, components=120, days=120, promotion_habits=True)


@pytest.fixture(scope="module")
def habit_world(tmp_path_factory):
    """A small world with promotion habits: its clean events (planted malformed lines dropped) and
    deploy records, its end and its folder."""
    root = tmp_path_factory.mktemp("habits") / "world"
    simulate_world(root, HABITS)
    events, world = clean_world_events(root)
    deploys, _ = deploy_tables_from_events(events, horizon=pd.Timedelta(days=7), as_of=world.end)
    return events, deploys, world, root


def test_habits_are_a_world_option_the_default_world_does_not_have(tmp_path):
    root = tmp_path / "plain"
    summary = simulate_world(root, SimulationConfig(seed=11, components=30, days=20))
    assert "prod_promotions" not in summary
    assert not (root / "ground_truth" / "promotion_strategies.csv").exists()
    events = read_event_log(root / "events")
    promotions = events[events["event_type"] == "promotion"]
    assert len(promotions) and not any("from_deploy_ids" in a for a in promotions["attrs"])


def test_the_log_gives_back_every_promotion_with_its_planted_class_covariates_and_window(habit_world):
    events, deploys, world, root = habit_world
    rows = promotions_table(events, deploys, world.end)
    truth = pd.read_csv(root / "ground_truth" / "promotions.csv")
    assert len(rows) == len(truth) > 100
    both = rows.merge(truth, on="deploy_id", suffixes=("", "_truth"), validate="one_to_one")
    assert len(both) == len(truth)
    for column in ("strategy", "author", "dependents", "eligible", "drift_eligible", "n_batched"):
        assert (both[column] == both[f"{column}_truth"]).all(), column
    assert np.allclose(both["exposure_days"], both["exposure_days_truth"], atol=1e-4)
    assert set(both.loc[both["eligible"], "strategy"]) == set(STRATEGIES)  # every class is there
    rolled = pd.read_csv(root / "ground_truth" / "deploys.csv").set_index("deploy_id")["rolled_back"]
    assert (both["rolled_back"] == both["deploy_id"].map(rolled)).all()


def test_planted_restore_times_are_drawn_around_the_truths_geometric_mean(habit_world):
    """The truth of time to restore is the estimand's: per promotion, the geometric mean hours of its
    class; the strategy summary their rollback-weighted geometric mean."""
    events, deploys, world, root = habit_world
    rows = promotions_table(events, deploys, world.end)
    truth = pd.read_csv(root / "ground_truth" / "promotions.csv")
    both = rows[rows["rolled_back"]].merge(truth, on="deploy_id", suffixes=("", "_truth"))
    own = np.log(both.apply(lambda r: r[f"restore_{r['strategy']}"], axis=1).to_numpy(dtype=float))
    residual = np.log(both["restore_hours"].to_numpy()) - own
    assert len(residual) > 60
    assert abs(residual.mean()) < 4 * 0.5 / np.sqrt(len(residual))  # planted log-sd 0.5
    assert 0.4 < residual.std() < 0.6
    evaluated = truth[truth["eligible"]]
    summary = truth_of(root)
    for s in STRATEGIES:
        p, log_r = evaluated[f"rollback_{s}"], np.log(evaluated[f"restore_{s}"])
        assert summary.loc[s, "restore_hours"] == pytest.approx(np.exp((p * log_r).sum() / p.sum()), rel=1e-5)


def _confounded(n: int, rng: np.random.Generator) -> tuple[pd.DataFrame, dict[str, float]]:
    """Careless authors promote on Friday evening and roll back more: the naive rates are biased."""
    authors = np.array([f"u{i}" for i in range(8)])
    care = np.linspace(-1.5, 1.5, len(authors))
    who = rng.integers(len(authors), size=n)
    dependents = rng.random(n) < 0.4
    delta = np.array([0.0, -1.5, -0.7, 1.2, 0.6])  # per strategy, in STRATEGIES order
    logits = np.column_stack([0.3 - 0.9 * care[who], -0.2 + 1.0 * care[who], care[who] * 0.4,
                              -0.9 - 1.2 * care[who], np.full(n, -0.4)])  # fmt: skip
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    strategy = np.array([rng.choice(len(STRATEGIES), p=row) for row in p])
    eta = -1.8 - 0.8 * care[who] + 0.6 * dependents
    rolled = rng.random(n) < 1 / (1 + np.exp(-(eta + delta[strategy])))
    frame = pd.DataFrame({
        "author": authors[who], "dependents": dependents, "strategy": np.array(STRATEGIES)[strategy],
        "component": [f"c{i % 400}" for i in range(n)], "eligible": True, "rolled_back": rolled,
        "restore_hours": np.where(rolled, rng.exponential(40.0, n), np.nan), "drift_eligible": False,
        "drifts_per_week": 0.0,
    })  # fmt: skip
    truth = {s: float(np.mean(1 / (1 + np.exp(-(eta + delta[k]))))) for k, s in enumerate(STRATEGIES)}
    return frame, truth


def test_doubly_robust_estimates_recover_confounded_effects_that_the_naive_rates_miss():
    frame, truth = _confounded(4000, np.random.default_rng(3))
    table, diagnostics = estimate_strategies(frame, seed=0)
    rates = table[table["outcome"] == "rollback_rate"].set_index("strategy")
    true = pd.Series(truth)
    true_effect = (true - true[BASELINE]).drop(BASELINE)
    rates_effect = rates.drop(BASELINE)
    covered = (rates_effect["effect_ci_low"] <= true_effect) & (true_effect <= rates_effect["effect_ci_high"])
    assert covered.sum() >= 3  # of 4 effects, each a 95% interval
    assert ((rates["ci_low"] <= true) & (true <= rates["ci_high"])).sum() >= 4
    assert list(rates["value"].sort_values().index) == list(true.sort_values().index)
    naive_error = (rates["naive"] - true).abs().max()
    assert naive_error > 3 * (rates["value"] - true).abs().max()  # confounding is real and removed
    assert diagnostics["promotions_evaluated"] == len(frame)
    # restore hours are exponential(40) whatever the class: their geometric mean is 40 exp(-gamma)
    restore = table[table["outcome"] == "restore_hours"].set_index("strategy")
    geometric = 40.0 * np.exp(-np.euler_gamma)
    assert ((restore["ci_low"] <= geometric) & (geometric <= restore["ci_high"])).sum() >= 4
    assert (restore["ci_low"] < restore["value"]).all() and (restore["value"] < restore["ci_high"]).all()
    no_effect = restore.drop(BASELINE)
    assert ((no_effect["effect_ci_low"] <= 0) & (no_effect["effect_ci_high"] >= 0)).sum() >= 3


@pytest.fixture(scope="module")
def habit_result(habit_world):
    events, deploys, world, _ = habit_world
    return compute(events, deploys, world.end)


def test_estimates_on_a_small_habit_world_rank_the_strategies_and_cover_the_truth(habit_world, habit_result):
    judged = judge(habit_result.estimates, truth_of(habit_world[3]))
    effects = judged[judged["strategy"] != BASELINE]
    assert len(effects) == 12 and effects["covered"].sum() >= 10, effects  # 95% intervals
    # a small world resolves the far pairs, not every adjacent one: at most one swap (the bench's
    # default-size worlds match the whole order)
    ranks = rankings(judged)
    assert ranks["rollback_rate"]["tau"] > 0.79 and ranks["restore_hours"]["tau"] > 0.79  # 0.8: one swap
    true_best = truth_of(habit_world[3])["rollback_rate"].idxmin()
    assert habit_result.recommended == true_best
    assert habit_result.summary.startswith("### ") and f"`{true_best}`" in habit_result.summary


def test_nothing_to_estimate_says_so_and_still_draws(tmp_path):
    events = pd.DataFrame({"ts": pd.Series(dtype="datetime64[ns, UTC]"), "event_type": []})
    deploys = pd.DataFrame({"deployed_at": pd.Series(dtype="datetime64[ns, UTC]")})
    result = compute(events, deploys, pd.Timestamp("2026-01-01", tz="UTC"))
    assert result.estimates.empty and result.recommended == "" and result.notes
    assert plot(result, tmp_path / "empty.png").read_bytes().startswith(PNG_MAGIC)


def _stub(name: str, value):
    """An upstream asset that gives `value`."""

    @dg.asset(name=name)
    def stub():
        return value

    return stub


def test_dagster_shows_promotion_strategies_with_summary_numbers_and_picture(habit_world, habit_result):
    events, deploys, world, _ = habit_world
    names = ("clean_karma_events", "deploy_records", "karma_world")
    stubs = [_stub(name, value) for name, value in zip(names, (events, deploys, world), strict=True)]
    result = dg.materialize([*stubs, promotion_strategies])
    assert result.success
    (materialization,) = result.asset_materializations_for_node("promotion_strategies")
    meta = materialization.metadata
    assert "data:image/png;base64," in meta["plot"].value
    assert isinstance(meta["summary"], dg.MarkdownMetadataValue)
    expected = habit_result
    assert meta["recommended_policy"].value == expected.recommended
    for key, value in expected.numbers.items():
        kind = dg.IntMetadataValue if isinstance(value, int) else dg.FloatMetadataValue
        assert isinstance(meta[key], kind) and meta[key].value == pytest.approx(value)
    pd.testing.assert_frame_equal(result.output_for_node("promotion_strategies"), expected.estimates)
