"""Insights: hand-built histories with exact answers, the Git case (no events), and the Dagster assets."""

import json

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from karma_pipelines.contracts.schema import CONFIG_SNAPSHOTS, DEPLOY_RECORDS, KARMA_EVENTS
from karma_pipelines.defs.insights import INSIGHT_ASSETS
from karma_pipelines.insights import (
    INSIGHTS,
    change_failure_rate,
    churn_vs_incidents,
    config_longevity,
    config_patterns,
    config_runtime_drift,
    downstream_invalidations,
    first_deploy_validation,
)
from karma_pipelines.insights.stats import kaplan_meier, km_median, ols_regression, poisson_regression
from karma_pipelines.records import deploy_tables_from_events
from karma_pipelines.simulator import SimulationConfig, simulate_world
from karma_pipelines.sources.event_log import read_event_log
from karma_pipelines.sources.event_world import EventLogSource
from tests.factories import T0, history

H = pd.Timedelta(hours=1)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def events_frame(rows: list[tuple]) -> pd.DataFrame:
    """A clean karma_events table from (hours after T0, event_type, entity_id, correlation_id, attrs)."""
    if not rows:
        return KARMA_EVENTS.empty()
    records = []
    for i, (hours, event_type, entity, correlation, attrs) in enumerate(rows, start=1):
        ts = T0 + hours * H
        records.append(
            {
                "record_id": f"t.jsonl:{i}",
                "source_file": "t.jsonl",
                "line_no": i,
                "raw": "{}",
                "parse_error": None,
                "ts": ts,
                "ts_raw": ts.isoformat(),
                "event_type": event_type,
                "entity_id": entity,
                "correlation_id": correlation,
                "idempotency_key": f"key-{i}",
                "source": "cli",
                "attrs_kind": "object",
                "attrs": attrs,
                "tags": {"Environment": "dev"},
                "duplicate_of": None,
            }
        )
    return KARMA_EVENTS.conform(pd.DataFrame(records))


def set_failed(deploys: pd.DataFrame, *deploy_ids: str) -> pd.DataFrame:
    out = deploys.copy()
    out.loc[out["deploy_id"].isin(deploy_ids), "outcome"] = "failed"
    return out


# -- downstream invalidations -------------------------------------------------------------------------


def test_the_change_with_three_invalidations_ranks_first_and_rejected_changes_invalidate_nothing():
    deploys, snaps = history(
        [
            {"id": "d1", "hours": 0, "component": "vpc/a", "change_id": "chg-1"},
            {"id": "d2", "hours": 1, "component": "s3-bucket/b", "change_id": "chg-2"},
            {"id": "d3", "hours": 2, "component": "vpc/c", "change_id": "chg-3"},
            {"id": "d4", "hours": 3, "component": "vpc/d", "change_id": "chg-4"},
        ]
    )
    x, y, z = "ecs-service/x", "ecs-service/y", "ecs-service/z"
    events = events_frame(
        [
            (0, "change.result", "vpc/a", "chg-1", {"status": "applied", "affected_components": [x, y, z]}),
            *[
                (0.1, "downstream.invalidated", d, "chg-1", {"deploy_id": "d1", "cause": "vpc/a"})
                for d in (x, y, z)
            ],
            (1, "change.result", "s3-bucket/b", "chg-2", {"status": "applied", "affected_components": [x]}),
            (2, "change.result", "vpc/c", "chg-3", {"status": "rejected", "affected_components": [y, z]}),
            (3, "change.result", "vpc/d", "chg-4", {"status": "queued", "affected_components": [y]}),
            (3.1, "downstream.invalidated", x, "chg-4", {"deploy_id": "d4", "cause": "vpc/d"}),
            (3.2, "downstream.invalidated", y, "chg-4", {"deploy_id": "d4", "cause": "vpc/d"}),
        ]
    )
    result = downstream_invalidations.compute(events, deploys, snaps)
    ranked = result.changes.set_index("change_id")["n_invalidated"]
    assert list(ranked.index) == ["chg-1", "chg-4", "chg-2", "chg-3"]
    assert ranked.to_dict() == {"chg-1": 3, "chg-4": 2, "chg-2": 1, "chg-3": 0}
    assert result.changes.iloc[0]["invalidated"] == sorted([x, y, z])
    assert result.numbers["invalidations"] == 6
    assert result.numbers["changes_with_invalidations"] == 3
    causes = result.causes.set_index("component")["invalidations"]
    assert causes.to_dict() == {"vpc/a": 3, "vpc/d": 2, "s3-bucket/b": 1}
    assert result.causes.iloc[0]["component"] == "vpc/a"
    hit = result.invalidated.set_index("component")
    assert hit.loc[x, "times_invalidated"] == 3 and hit.loc[x, "distinct_causes"] == 3
    assert "chg-1" in result.summary and (result.changes["method"] == "events").all()


def test_git_invalidations_follow_the_dependency_graph_transitively_and_as_it_changes():
    deploys, snaps = history(
        [
            {
                "id": "v1",
                "hours": 0,
                "component": "vpc/core",
                "change_id": "c1",
                "config": {"cidr": "10.0.0.0/16"},
            },
            {
                "id": "k1",
                "hours": 1,
                "component": "ecs-cluster/k",
                "change_id": "c2",
                "config": {"vpc_nickname": "core"},
            },
            {
                "id": "s1",
                "hours": 2,
                "component": "ecs-service/s",
                "change_id": "c3",
                "config": {"cluster_nickname": "k", "vpc_nickname": "core"},
            },
            {
                "id": "t1",
                "hours": 3,
                "component": "ecs-service/t",
                "change_id": "c4",
                "config": {"vpc_nickname": "core"},
            },
            {
                "id": "v2",
                "hours": 4,
                "component": "vpc/core",
                "change_id": "c5",
                "config": {"cidr": "10.1.0.0/16"},
            },
            {
                "id": "k2",
                "hours": 5,
                "component": "ecs-cluster/k",
                "change_id": "c6",
                "config": {"vpc_nickname": "core"},
            },
            {
                "id": "t2",
                "hours": 6,
                "component": "ecs-service/t",
                "change_id": "c7",
                "config": {"image": "x"},
            },
            {
                "id": "v3",
                "hours": 7,
                "component": "vpc/core",
                "change_id": "c8",
                "config": {"cidr": "10.2.0.0/16"},
            },
            # One commit deploying a producer and its consumer: the consumer is not "downstream" of it.
            {
                "id": "v4",
                "hours": 8,
                "component": "vpc/core",
                "change_id": "c9",
                "config": {"cidr": "10.3.0.0/16"},
            },
            {
                "id": "k3",
                "hours": 8,
                "component": "ecs-cluster/k",
                "change_id": "c9",
                "config": {"vpc_nickname": "core"},
            },
        ]
    )
    result = downstream_invalidations.compute(KARMA_EVENTS.empty(), deploys, snaps)
    counts = result.changes.set_index("change_id")["n_invalidated"].to_dict()
    assert counts == {"c1": 0, "c2": 0, "c3": 0, "c4": 0, "c5": 3, "c6": 1, "c7": 0, "c8": 2, "c9": 1}
    assert result.changes.iloc[0]["change_id"] == "c5"
    assert result.changes.iloc[0]["invalidated"] == ["ecs-cluster/k", "ecs-service/s", "ecs-service/t"]
    assert (result.changes["method"] == "graph").all()
    assert any("dependency graph" in n for n in result.notes)


# -- first deploy validation --------------------------------------------------------------------------


def _first_deploy_history():
    return history(
        [
            {"id": "a1", "hours": 0, "component": "vpc/a", "change_id": "ca1"},
            {"id": "b1", "hours": 1, "component": "vpc/b", "change_id": "cb1"},
            {"id": "c1", "hours": 2, "component": "s3-bucket/c", "change_id": "cc1"},
            {"id": "e1", "hours": 3, "component": "s3-bucket/e", "change_id": "ce1"},
            {"id": "a2", "hours": 10, "component": "vpc/a", "change_id": "ca2"},
            {"id": "b2", "hours": 11, "component": "vpc/b", "change_id": "cb2"},
            {"id": "e_rb", "hours": 20, "component": "s3-bucket/e", "rolls_back": "e1", "change_id": "ce1"},
        ]
    )


def test_first_deploy_validation_failures_by_type_with_later_deploys_as_baseline():
    deploys, snaps = _first_deploy_history()
    events = events_frame(
        [
            (0.1, "validation.failed", "vpc/a", "ca1", {"deploy_id": "a1", "check": "schema"}),
            (11.1, "validation.failed", "vpc/b", "cb2", {"deploy_id": "b2", "check": "plan"}),
            # No deploy id: linked by component and change request.
            (3.1, "validation.failed", "s3-bucket/e", "ce1", {"check": "required_fields"}),
        ]
    )
    result = first_deploy_validation.compute(events, deploys, snaps)
    assert result.measure == "validation.failed"
    failed = result.components.loc[result.components["failed_first_deploy"], "component"]
    assert sorted(failed) == ["s3-bucket/e", "vpc/a"]
    by_type = result.by_type.set_index("component_type")
    assert by_type.loc["vpc", ["components", "failed", "later_deploys", "later_failed"]].tolist() == [
        2,
        1,
        2,
        1,
    ]
    assert by_type.loc["vpc", "rate"] == 0.5 and by_type.loc["vpc", "later_rate"] == 0.5
    assert by_type.loc["s3-bucket", "rate"] == 0.5 and np.isnan(by_type.loc["s3-bucket", "later_rate"])
    assert by_type.loc["vpc", "ci_low"] < 0.5 < by_type.loc["vpc", "ci_high"]
    assert result.numbers["first_deploys"] == 4  # the rollback e_rb is not a first deploy
    assert result.numbers["first_deploy_failure_rate"] == 0.5
    checks = result.by_check.set_index("check")
    assert checks.loc["schema", "first_deploys"] == 1 and checks.loc["plan", "first_deploys"] == 0
    assert checks.loc["plan", "all_deploys"] == 1


def test_first_deploy_without_events_counts_rolled_back_or_failed_first_deploys():
    deploys, snaps = _first_deploy_history()
    deploys = set_failed(deploys, "c1")
    result = first_deploy_validation.compute(KARMA_EVENTS.empty(), deploys, snaps)
    assert result.measure == "failed_or_rolled_back"
    failed = result.components.loc[result.components["failed_first_deploy"], "component"]
    assert sorted(failed) == ["s3-bucket/c", "s3-bucket/e"]
    assert result.by_type.set_index("component_type").loc["s3-bucket", "rate"] == 1.0
    assert result.components["validation_failed"].isna().all()
    assert result.by_check.empty and any("no event log" in n for n in result.notes)


# -- drift ----------------------------------------------------------------------------------------------


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


@pytest.mark.parametrize("name", sorted(INSIGHTS))
def test_every_insight_runs_without_events_and_on_nothing_and_draws_a_png(name, tmp_path):
    module = INSIGHTS[name]
    deploys, snaps = _first_deploy_history()
    git = module.compute(KARMA_EVENTS.empty(), deploys, snaps)
    assert isinstance(git.table, pd.DataFrame) and git.summary.startswith("### ")
    assert all(isinstance(v, int | float) for v in git.numbers.values())
    nothing = module.compute(KARMA_EVENTS.empty(), DEPLOY_RECORDS.empty(), CONFIG_SNAPSHOTS.empty())
    assert nothing.table.empty
    for label, result in (("git", git), ("nothing", nothing)):
        path = module.plot(result, tmp_path / f"{label}.png")
        assert path.read_bytes().startswith(PNG_MAGIC)
    if name == "config_runtime_drift":
        assert git.table.empty and any("no event log" in n for n in git.notes)


@pytest.fixture(scope="module")
def small_world(tmp_path_factory):
    """A small simulated world's clean events (every line planted malformed dropped, as the suite does)
    and its deploy tables."""
    root = tmp_path_factory.mktemp("ins") / "world"
    simulate_world(root, SimulationConfig(seed=4, components=24, days=30))
    world = EventLogSource(root).describe()
    raw = read_event_log(world.root / "events")
    malformed = pd.read_csv(root / "ground_truth" / "malformed.csv")
    planted = set(malformed["file"] + ":" + malformed["line"].astype(str))
    events = raw[~raw["record_id"].isin(planted)].reset_index(drop=True)
    deploys, snaps = deploy_tables_from_events(events, horizon=pd.Timedelta(days=7), as_of=world.end)
    return events, deploys, snaps


def test_graph_invalidations_agree_with_the_event_log_on_a_simulated_world(small_world):
    events, deploys, snaps = small_world
    observed = downstream_invalidations.compute(events, deploys, snaps).changes.set_index("change_id")
    inferred = downstream_invalidations.compute(KARMA_EVENTS.empty(), deploys, snaps).changes.set_index(
        "change_id"
    )
    both = (
        observed["n_invalidated"]
        .to_frame("events")
        .join(inferred["n_invalidated"].rename("graph"), how="inner")
    )
    assert both["events"].sum() > 0
    assert (both["events"] == both["graph"]).mean() > 0.95


def test_dagster_materializes_every_insight_asset_with_numbers_summary_and_plot(small_world):
    events, deploys, snaps = small_world

    @dg.asset(name="clean_karma_events")
    def stub_events() -> pd.DataFrame:
        return events

    @dg.asset(name="deploy_records")
    def stub_deploys() -> pd.DataFrame:
        return deploys

    @dg.asset(name="config_snapshots")
    def stub_snapshots() -> pd.DataFrame:
        return snaps

    result = dg.materialize([stub_events, stub_deploys, stub_snapshots, *INSIGHT_ASSETS])
    assert result.success
    for asset in INSIGHT_ASSETS:
        name = asset.key.to_user_string()
        assert asset.group_names_by_key[asset.key] == "insights"
        (materialization,) = result.asset_materializations_for_node(name)
        meta = materialization.metadata
        assert meta["plot"].value.startswith("![") and "data:image/png;base64," in meta["plot"].value
        assert isinstance(meta["summary"], dg.MarkdownMetadataValue)
        expected = INSIGHTS[name].compute(events, deploys, snaps)
        for key, value in expected.numbers.items():
            if isinstance(value, int):
                assert isinstance(meta[key], dg.IntMetadataValue) and meta[key].value == value
            elif np.isfinite(value):
                assert isinstance(meta[key], dg.FloatMetadataValue)
        pd.testing.assert_frame_equal(result.output_for_node(name), expected.table)
