"""The rollback label: horizon, delay, unlabelled tail, first rollback wins."""

import pandas as pd

from tests.factories import T0, history


def test_rollback_within_horizon_is_labelled_with_its_delay():
    deploys, _ = history(
        [
            {"id": "d1", "hours": 0, "component": "vpc/core-dev"},
            {"id": "r1", "hours": 30, "component": "vpc/core-dev", "rolls_back": "d1"},
            {"id": "d2", "hours": 400, "component": "vpc/core-dev"},
        ],
        as_of=T0 + pd.Timedelta(days=30),
    )
    row = deploys.set_index("deploy_id")
    assert bool(row.loc["d1", "rolled_back"]) is True
    assert row.loc["d1", "rollback_delay_hours"] == 30.0
    assert row.loc["d1", "rolled_back_at"] == T0 + pd.Timedelta(hours=30)
    assert bool(row.loc["d2", "rolled_back"]) is False
    assert bool(row.loc["r1", "rolled_back"]) is False and bool(row.loc["r1", "is_rollback"])


def test_rollback_after_the_horizon_is_a_negative_but_keeps_its_delay():
    deploys, _ = history(
        [
            {"id": "d1", "hours": 0, "component": "vpc/core-dev"},
            {"id": "r1", "hours": 8 * 24, "component": "vpc/core-dev", "rolls_back": "d1"},
        ],
        as_of=T0 + pd.Timedelta(days=30),
    )
    row = deploys.set_index("deploy_id").loc["d1"]
    assert bool(row["labelled"]) and bool(row["rolled_back"]) is False
    assert row["rollback_delay_hours"] == 192.0


def test_young_deploys_are_unlabelled_unless_already_rolled_back():
    deploys, _ = history(
        [
            {"id": "old", "hours": 0, "component": "vpc/a-dev"},
            {"id": "young", "hours": 24 * 9, "component": "vpc/b-dev"},
            {"id": "young_rb", "hours": 24 * 9, "component": "vpc/c-dev"},
            {"id": "r", "hours": 24 * 9 + 5, "component": "vpc/c-dev", "rolls_back": "young_rb"},
        ],
        as_of=T0 + pd.Timedelta(days=10),
    )
    row = deploys.set_index("deploy_id")
    assert bool(row.loc["old", "labelled"]) and not bool(row.loc["old", "rolled_back"])
    assert not bool(row.loc["young", "labelled"]) and pd.isna(row.loc["young", "rolled_back"])
    assert bool(row.loc["young_rb", "labelled"]) and bool(row.loc["young_rb", "rolled_back"])


def test_a_history_without_any_rollback_is_labelled_negative():
    deploys, _ = history(
        [
            {"id": "a", "hours": 0, "component": "vpc/a-dev"},
            {"id": "b", "hours": 5, "component": "vpc/a-dev"},
        ],
        as_of=T0 + pd.Timedelta(days=30),
    )
    assert deploys["labelled"].all() and not deploys["rolled_back"].astype(bool).any()
    assert deploys["rolled_back_at"].isna().all()
