"""Insights with exact answers on hand-built histories: drift and Kaplan-Meier, config longevity and
patterns, churn against incidents, DORA."""

import json

import numpy as np
import pandas as pd
import pytest

from karma_pipelines.contracts.schema import KARMA_EVENTS
from karma_pipelines.insights import (
    change_failure_rate,
    churn_vs_incidents,
    config_longevity,
    config_patterns,
    config_runtime_drift,
)
from karma_pipelines.insights.stats import kaplan_meier, km_median, ols_regression, poisson_regression
from tests.factories import T0, history
from tests.test_insights import H, events_frame, set_failed


def test_drift_open_at_the_end_is_censored_and_durations_use_kaplan_meier():
    deploys, snaps = history(
        [
            {"id": "p1", "hours": 0, "component": "vpc/p", "env": "prod"},
            {"id": "q1", "hours": 0, "component": "vpc/q", "env": "prod"},
            {"id": "d1", "hours": 0, "component": "vpc/dv", "env": "dev"},
        ]
    )
    events = events_frame(
        [
            (10, "drift.detected", "vpc/p", "x", {"drift_id": "drf-1", "fields": ["cidr"]}),
            (20, "drift.resolved", "vpc/p", "x", {"drift_id": "drf-1", "fields": ["cidr"]}),
            (15, "drift.detected", "vpc/q", "x", {"drift_id": "drf-2", "fields": ["cidr", "az_count"]}),
            (35, "drift.resolved", "vpc/q", "x", {"drift_id": "drf-2", "fields": ["cidr", "az_count"]}),
            (58, "drift.detected", "vpc/p", "x", {"drift_id": "drf-3", "fields": ["cidr"]}),
            (45, "drift.resolved", "vpc/q", "x", {"drift_id": "drf-9", "fields": []}),  # never detected
        ]
    )
    result = config_runtime_drift.compute(events, deploys, snaps, as_of=T0 + 70 * H)
    drifts = result.drifts.set_index("drift_id")
    assert drifts["duration_hours"].to_dict() == pytest.approx({"drf-1": 10.0, "drf-2": 20.0, "drf-3": 12.0})
    assert drifts["censored"].to_dict() == {"drf-1": False, "drf-2": False, "drf-3": True}
    assert drifts.loc["drf-2", "n_fields"] == 2
    # KM: S(10) = 2/3, the 12 h drift is censored (not an event), S(20) = 0 -> median 20 h.
    # (Counted as resolved it would give S(12) = 1/3 and a median of 12 h.)
    assert result.numbers["km_median_hours"] == pytest.approx(20.0)
    assert result.numbers["mean_resolved_hours"] == pytest.approx(15.0)
    assert result.numbers["open_at_end"] == 1
    groups = result.by_group.set_index(["level", "group"])
    assert groups.loc[("environment", "prod"), "drifted_share"] == pytest.approx(42 / 140)
    assert groups.loc[("all", "all"), "drifted_share"] == pytest.approx(42 / 210)
    assert groups.loc[("environment", "dev"), "drifts"] == 0  # environments without drift are listed
    week = result.weekly[result.weekly["level"] == "all"].iloc[0]
    assert (week["detected"], week["resolved"], week["open_at_week_end"]) == (3, 2, 1)
    assert week["drifted_hours"] == pytest.approx(42.0)
    assert any("1 drift.resolved" in n for n in result.notes)


def test_kaplan_meier_matches_a_hand_computation():
    km = kaplan_meier([1, 2, 2, 3, 4, 5], [True, True, False, True, False, True])
    assert km["time"].tolist() == [1, 2, 3, 4, 5]
    assert km["at_risk"].tolist() == [6, 5, 3, 2, 1]
    assert km["events"].tolist() == [1, 1, 1, 0, 1]
    assert km["censored"].tolist() == [0, 1, 0, 1, 0]
    expected = [5 / 6, 5 / 6 * 4 / 5, 5 / 6 * 4 / 5 * 2 / 3, 5 / 6 * 4 / 5 * 2 / 3, 0.0]
    assert km["survival"].tolist() == pytest.approx(expected)
    assert km_median(km) == 3  # first time S <= 0.5
    # Greenwood at t=1: S^2 * d / (n (n - d)) = (5/6)^2 / 30.
    assert km["se"].iloc[0] == pytest.approx(5 / 6 * np.sqrt(1 / 30))
    assert km["ci_low"].iloc[1] < km["survival"].iloc[1] < km["ci_high"].iloc[1]
    assert np.isnan(km_median(kaplan_meier([1, 2, 3], [True, False, False])))  # S stays at 2/3
    assert kaplan_meier([1, 2], [False, True])["se"].tolist() == [0.0, 0.0]


# -- config longevity -----------------------------------------------------------------------------------


def test_gaps_between_incidents_are_censored_at_the_end_and_spells_charge_the_right_config():
    deploys, snaps = history(
        [
            {"id": "a1", "hours": 0, "component": "vpc/a"},
            {"id": "a2", "hours": 24, "component": "vpc/a"},
            {"id": "rb", "hours": 48, "component": "vpc/a", "rolls_back": "a2"},
            {"id": "b1", "hours": 0, "component": "vpc/b"},
            {"id": "b2", "hours": 100, "component": "vpc/b"},
        ],
        as_of=T0 + 240 * H,
    )
    deploys = set_failed(deploys, "b2")
    result = config_longevity.compute(KARMA_EVENTS.empty(), deploys, snaps, as_of=T0 + 240 * H)
    gaps = result.gaps.sort_values(["component", "start"])
    assert gaps["days"].tolist() == pytest.approx([2.0, 8.0, 100 / 24, 140 / 24])
    assert gaps["event"].tolist() == [True, False, True, False]
    # KM: S(2) = 3/4, S(100/24) = 3/4 * 2/3 = 1/2 -> median 100/24 days.
    assert result.numbers["km_median_days_between_incidents"] == pytest.approx(100 / 24)
    charged = result.spells.set_index("deploy_id")["incidents"].to_dict()
    assert charged == {"a1": 0, "a2": 1, "rb": 0, "b1": 0, "b2": 1}  # rollback -> undone config
    assert result.numbers["incidents"] == 2


def test_config_patterns_rank_the_safer_value_as_longer_lived_and_never_show_secrets():
    rows, rolled = [], 0
    for i in range(10):
        versioning = i < 5
        config = {
            "versioning": versioning,
            "bucket_name": f"bucket-{i}-7f3a",
            "db_password": "hunter2",
            "tags": {"Owner": "alice@example.com"},
        }
        comp = f"s3-bucket/x{i}"
        rows.append({"id": f"x{i}-1", "hours": 0, "component": comp, "config": config})
        if versioning or i == 9:  # every versioning=true bucket has one incident, one other bucket too
            rows.append({"id": f"x{i}-2", "hours": 10, "component": comp, "config": config})
            rows.append(
                {"id": f"x{i}-rb", "hours": 20, "component": comp, "config": config, "rolls_back": f"x{i}-2"}
            )
            rolled += 1
    deploys, snaps = history(rows, as_of=T0 + 200 * H)
    result = config_longevity.compute(KARMA_EVENTS.empty(), deploys, snaps, as_of=T0 + 200 * H)
    patterns = result.patterns.set_index("pattern")
    # Fields set everywhere, a value that names a resource, secret fields and tags never show up.
    assert sorted(patterns.index) == ["versioning=false", "versioning=true"]
    assert patterns.loc["versioning=true", "rate_ratio"] == pytest.approx(5.0, rel=1e-6)
    assert patterns.loc["versioning=true", "direction"] == "shorter-lived"
    assert patterns.loc["versioning=false", "direction"] == "longer-lived"
    assert result.patterns.iloc[0]["pattern"] == "versioning=false"
    text = result.summary + result.patterns.to_string()
    for secret in ("hunter2", "db_password", "alice@example.com", "bucket-0-7f3a"):
        assert secret not in text
    assert result.numbers["incidents"] == rolled


def test_config_features_keep_only_safe_names_and_values():
    fields, values = config_patterns.config_features(
        json.dumps(
            {
                "db_password": "x",
                "api_token": "y",
                "enabled": True,
                "acl": "private",
                "bucket_name": "b",
                "container": {"secrets": ["a"], "environment": {"MODE": "fast"}},
            }
        )
    )
    assert fields == {"enabled", "acl", "bucket_name", "container.environment.MODE"}
    assert values == {"enabled": "true", "acl": "private"}


# -- churn and incidents ----------------------------------------------------------------------------------


def test_churn_panel_counts_each_component_week_with_incidents_when_they_happen():
    deploys, snaps = history(
        [
            {"id": "c1", "hours": 0, "component": "vpc/a", "changed": ["x", "y", "z"]},
            {"id": "c2", "hours": 24, "component": "vpc/a", "changed": ["x"]},
            {"id": "c3", "hours": 24 * 12, "component": "vpc/a"},  # Saturday of week 2
            {"id": "rb", "hours": 24 * 14, "component": "vpc/a", "rolls_back": "c3"},  # Monday of week 3
            {"id": "b1", "hours": 24 * 8, "component": "vpc/b"},
            {"id": "b2", "hours": 24 * 9, "component": "vpc/b"},
        ],
        as_of=T0 + pd.Timedelta(days=20),
    )
    deploys = set_failed(deploys, "b2")
    result = churn_vs_incidents.compute(
        KARMA_EVENTS.empty(), deploys, snaps, as_of=T0 + pd.Timedelta(days=20)
    )
    panel = result.panel.set_index(["component", "week"])
    w1 = T0.normalize()
    w2, w3 = w1 + pd.Timedelta(days=7), w1 + pd.Timedelta(days=14)
    cols = ["deploys", "fields_touched", "incidents", "failures", "rollbacks"]
    assert panel.loc[("vpc/a", w1), cols].tolist() == [2, 4, 0, 0, 0]
    assert panel.loc[("vpc/a", w2), cols].tolist() == [1, 0, 0, 0, 0]
    assert panel.loc[("vpc/a", w3), cols].tolist() == [0, 0, 1, 0, 1]  # the rollback, not the deploy
    assert panel.loc[("vpc/b", w2), cols].tolist() == [2, 0, 1, 1, 0]
    assert len(result.panel) == 5  # vpc/b exists from week 2 only


def test_regressions_recover_a_planted_slope_within_their_confidence_interval():
    rng = np.random.default_rng(3)
    clusters = np.repeat(np.arange(300), 8)
    x = rng.poisson(2.0, size=clusters.size).astype(float)
    frailty = rng.normal(0, 0.2, size=300)[clusters]  # components differ: errors must be clustered
    y = rng.poisson(np.exp(-1.5 + 0.3 * x + frailty))
    X = np.column_stack([np.ones_like(x), x])
    fit = poisson_regression(X, y, ["intercept", "x"], clusters=clusters)
    row = fit.table().set_index("term").loc["x"]
    assert fit.converged and row["ci_low"] < 0.3 < row["ci_high"]
    assert row["ci_high"] - row["ci_low"] < 0.15 and row["p_value"] < 1e-6
    assert row["irr"] == pytest.approx(np.exp(row["coef"]))
    noise = rng.normal(0, 1, size=x.size)
    null = poisson_regression(
        np.column_stack([np.ones_like(x), noise]), y, ["intercept", "noise"], clusters=clusters
    )
    null_row = null.table().set_index("term").loc["noise"]
    assert null_row["ci_low"] < 0 < null_row["ci_high"]
    linear = ols_regression(X, 0.5 + 0.2 * x + rng.normal(0, 0.5, size=x.size), ["intercept", "x"], clusters)
    lin = linear.table().set_index("term").loc["x"]
    assert lin["ci_low"] < 0.2 < lin["ci_high"] and np.isnan(lin["irr"])


def test_churn_models_report_a_positive_slope_when_incidents_grow_with_deploys():
    rows = []
    for i in range(12):
        comp = f"vpc/n{i}"
        n_deploys = 1 + i % 4
        for k in range(n_deploys):
            rows.append({"id": f"{comp}-{k}", "hours": 2 * k, "component": comp, "changed": ["a"]})
        for k in range(n_deploys - 1):  # more deploys, more of them rolled back
            rows.append(
                {"id": f"{comp}-rb{k}", "hours": 2 * k + 1, "component": comp, "rolls_back": f"{comp}-{k}"}
            )
    deploys, snaps = history(rows, as_of=T0 + pd.Timedelta(days=6))
    result = churn_vs_incidents.compute(KARMA_EVENTS.empty(), deploys, snaps)
    assert result.numbers["slope_per_deploy"] == pytest.approx(1.0)  # exactly one more incident per deploy
    assert result.numbers["slope_per_deploy_ci_low"] <= 1.0 + 1e-9
    assert result.numbers["slope_per_deploy_ci_high"] >= 1.0 - 1e-9
    assert result.numbers["irr_per_deploy"] > 1


# -- DORA -------------------------------------------------------------------------------------------------


def test_dora_numbers_per_environment_and_week_are_exact():
    deploys, snaps = history(
        [
            {"id": "w1a", "hours": 0, "component": "vpc/a"},
            {"id": "w1b", "hours": 1, "component": "vpc/b"},
            {"id": "w1c", "hours": 2, "component": "vpc/c"},
            {"id": "w1d", "hours": 3, "component": "vpc/d"},
            {"id": "rb1", "hours": 6, "component": "vpc/b", "rolls_back": "w1b"},
            {"id": "w2a", "hours": 24 * 7, "component": "vpc/a"},
            {"id": "w2b", "hours": 24 * 7 + 1, "component": "vpc/c"},
            {"id": "p1", "hours": 24 * 7 + 2, "component": "vpc/p", "env": "prod"},
        ],
        as_of=T0 + pd.Timedelta(days=60),
    )
    deploys = set_failed(deploys, "w1c")
    result = change_failure_rate.compute(
        KARMA_EVENTS.empty(), deploys, snaps, as_of=T0 + pd.Timedelta(days=60)
    )
    weekly = result.weekly.set_index(["environment", "week"])
    w1 = T0.normalize()
    w2 = w1 + pd.Timedelta(days=7)
    assert len(result.weekly) == 3
    first = weekly.loc[("dev", w1)]
    assert (first["deploys"], first["failures"], first["restores"]) == (4, 2, 1)
    assert first["change_failure_rate"] == 0.5 and first["median_restore_hours"] == pytest.approx(5.0)
    assert first["deploys_per_day"] == pytest.approx(4 / 7)
    assert weekly.loc[("dev", w2), "change_failure_rate"] == 0.0
    assert weekly.loc[("prod", w2), "deploys"] == 1
    by_env = result.by_environment.set_index("environment")
    assert by_env.loc["dev", "change_failure_rate"] == pytest.approx(2 / 6)
    assert by_env.loc["all", "change_failure_rate"] == pytest.approx(2 / 7)
    assert by_env.loc["all", "deploys_per_day"] == pytest.approx(7 / 60)
    assert result.numbers["median_restore_hours"] == pytest.approx(5.0)


def test_dora_leaves_deploys_younger_than_the_horizon_out_of_the_failure_rate():
    deploys, snaps = history(
        [
            {"id": "old", "hours": 0, "component": "vpc/a"},
            {"id": "new1", "hours": 24 * 9, "component": "vpc/a"},
            {"id": "new2", "hours": 24 * 9 + 1, "component": "vpc/b"},
        ],
        as_of=T0 + pd.Timedelta(days=10),
    )
    deploys = set_failed(deploys, "new1")  # failed already, but its siblings' fate is not known yet
    result = change_failure_rate.compute(
        KARMA_EVENTS.empty(), deploys, snaps, as_of=T0 + pd.Timedelta(days=10)
    )
    by_env = result.by_environment.set_index("environment")
    assert by_env.loc["all", ["known", "failures"]].tolist() == [1, 0]
    assert by_env.loc["all", "change_failure_rate"] == 0.0
    assert result.weekly["unlabelled"].sum() == 2


# -- every insight: Git case, nothing at all, plots, Dagster ---------------------------------------
