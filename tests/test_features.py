"""Point-in-time features: exact values on a hand-built history, and no leakage from the future."""

import os

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from karma_pipelines.features import build_rollback_features
from karma_pipelines.features.leakage import point_in_time_violations
from tests.factories import T0, history

VPC = {"cidr": "10.0.0.0/16"}
SVC = {"vpc_nickname": "core-dev", "desired_count": 2}


@pytest.fixture
def small():
    return history(
        [
            {"id": "v1", "hours": 0, "component": "vpc/core-dev", "config": VPC, "action": "create"},
            {"id": "s1", "hours": 1, "component": "ecs-service/api-dev", "config": SVC, "author": "bo"},
            {"id": "v2", "hours": 48, "component": "vpc/core-dev", "config": VPC, "changed": ["cidr"]},
            {"id": "r2", "hours": 50, "component": "vpc/core-dev", "config": VPC, "rolls_back": "v2"},
            {"id": "s2", "hours": 60, "component": "ecs-service/api-dev", "config": SVC, "author": "bo"},
            {"id": "v3", "hours": 70, "component": "vpc/core-dev", "config": VPC, "author": "bo"},
        ],
        as_of=T0 + pd.Timedelta(days=30),
    )


def test_features_take_exact_values(small):
    f = build_rollback_features(*small).set_index("deploy_id")
    assert f.loc["v1", "is_first_deploy"] == 1 and f.loc["v1", "comp_prior_deploys"] == 0
    assert f.loc["v2", "comp_prior_deploys"] == 1
    assert f.loc["v2", "changes_network"] == 1  # cidr
    assert f.loc["v2", "days_since_last_deploy"] == 2.0
    # The service references the VPC: in-degree 1 from s1 on; before s1 it was 0.
    assert f.loc["v1", "in_degree"] == 0 and f.loc["v2", "in_degree"] == 1
    assert f.loc["s1", "out_degree"] == 1
    # s2 deploys 10 h after the VPC's rollback r2 at hour 50: upstream changed in the last 24 h.
    assert f.loc["s2", "upstream_hours_since_change"] == 10.0 and f.loc["s2", "upstream_changed_24h"] == 1
    # v3 comes after the rollback of v2 was known: the component's history shows it.
    assert f.loc["v3", "comp_prior_rollbacks"] == 1 and f.loc["v3", "last_deploy_was_rollback"] == 1
    assert f.loc["r2", "comp_prior_rollbacks"] == 0  # at hour 50 exactly the rollback is not yet "before"
    assert f.loc["v3", "author_prior_deploys"] == 2 and f.loc["v3", "author_prior_deploys_on_component"] == 0
    assert f.loc["v1", "hour"] == 10 and f.loc["v1", "weekday"] == 0 and f.loc["v1", "is_off_hours"] == 0


def test_changing_a_later_event_changes_no_earlier_row(small):
    deploys, snaps = small
    before = build_rollback_features(deploys, snaps).set_index("deploy_id")
    # Rewrite the future: v3 becomes a huge change by a new author, rolled back at once.
    later = deploys.copy()
    i = later.index[later["deploy_id"] == "v3"][0]
    later.loc[i, ["author", "n_fields_changed"]] = ["newcomer", 40]
    later.loc[i, "rolled_back_at"] = later.loc[i, "deployed_at"] + pd.Timedelta(hours=1)
    after = build_rollback_features(later, snaps).set_index("deploy_id")
    earlier = [d for d in before.index if d != "v3"]
    pd.testing.assert_frame_equal(before.loc[earlier], after.loc[earlier])
    assert after.loc["v3", "n_fields_changed"] == 40


def test_leakage_audit_finds_nothing_on_point_in_time_features(small):
    deploys, snaps = small
    assert point_in_time_violations(deploys, snaps, T0 + pd.Timedelta(hours=55)).empty


def test_leakage_audit_catches_a_feature_that_peeks_at_the_label(small, monkeypatch):
    import karma_pipelines.features.leakage as leakage

    real = leakage.build_rollback_features

    def leaky(deploys, snapshots):
        f = real(deploys, snapshots)
        f["peek"] = f["deploy_id"].map(deploys.set_index("deploy_id")["rolled_back_at"].notna()).astype(float)
        return f

    monkeypatch.setattr(leakage, "build_rollback_features", leaky)
    deploys, snaps = small
    found = point_in_time_violations(deploys, snaps, T0 + pd.Timedelta(hours=49))
    assert set(found["feature"]) == {"peek"} and set(found["deploy_id"]) == {"v2"}


def test_features_of_a_few_deploys_from_their_relevant_history_equal_the_full_build(small):
    from karma_pipelines.features.for_deploys import features_for

    deploys, snaps = small
    full = build_rollback_features(deploys, snaps).set_index("deploy_id")
    for wanted in ({"s2"}, {"v3"}, {"v2", "s1"}):
        part = features_for(deploys, snaps, wanted).set_index("deploy_id")
        assert set(part.index) == wanted
        pd.testing.assert_frame_equal(part, full.loc[part.index, part.columns], check_dtype=False)


def test_change_kinds_count_every_touched_path_by_its_own_name():
    """Each touched path counts once per kind its last segment is of (a name may be of several kinds),
    however often the same names come back."""
    from karma_pipelines.features.change_kinds import change_kind_counts

    deploys = pd.DataFrame(
        {
            "fields_added": [["a.vpc_nickname"], [], ["x.kms_key_version"]] * 2,
            "fields_removed": [["desired_count"], ["sg_ingress"], []] * 2,
            "fields_changed": [["svc.memory", "svc.memory_size"], ["image"], ["cidr.port"]] * 2,
        },
        index=[10, 11, 12, 13, 14, 15],
    )
    counts = change_kind_counts(deploys)
    assert list(counts.columns) == [
        f"changes_{k}" for k in ("reference", "capacity", "network", "security", "image")
    ]
    assert counts.index.tolist() == [10, 11, 12, 13, 14, 15]
    assert counts.loc[10].tolist() == [1, 3, 0, 0, 0]  # vpc_nickname; desired_count, memory, memory_size
    assert counts.loc[11].tolist() == [0, 0, 1, 0, 1]  # sg_ingress; image
    assert counts.loc[12].tolist() == [0, 0, 1, 1, 1]  # port; kms_key_version is security and image
    pd.testing.assert_frame_equal(counts.iloc[3:].set_axis(counts.index[:3]), counts.iloc[:3])


def test_the_two_slowest_groups_are_made_by_workers_and_equal_what_one_process_makes(
    small, monkeypatch, tmp_path
):
    from karma_pipelines import parallel
    from karma_pipelines.features import rollback

    made_in = tmp_path / "pids"

    def recorded(make):
        def wrapper(*args, **kwargs):
            with made_in.open("a") as out:
                out.write(f"{make.__name__} {os.getpid()}\n")
            return make(*args, **kwargs)

        return wrapper

    for name in ("change_value_features", "daily_state_features"):
        monkeypatch.setattr(rollback, name, recorded(getattr(rollback, name)))
    monkeypatch.setattr(parallel, "default_workers", lambda: 1)
    alone = build_rollback_features(*small)
    assert {line.split()[1] for line in made_in.read_text().splitlines()} == {str(os.getpid())}
    made_in.unlink()
    monkeypatch.setattr(parallel, "default_workers", lambda: 2)
    apart = build_rollback_features(*small)
    pids = dict(line.split() for line in made_in.read_text().splitlines())
    assert set(pids) == {"change_value_features", "daily_state_features"}
    assert str(os.getpid()) not in pids.values()
    pd.testing.assert_frame_equal(apart, alone, check_exact=True)


def test_the_feature_table_holds_each_feature_array_as_made_not_a_second_copy():
    import numpy as np

    from karma_pipelines.features.rollback import _Features

    index = pd.RangeIndex(4)
    features = _Features(index)
    features["a"] = pd.Series([1, 2, 3, np.inf], index=index)
    features["b"] = np.array([0.5, 1.5, 2.5, 3.5])
    made = dict(features._columns)
    labels = pd.DataFrame({"deploy_id": list("wxyz")}, index=index)
    table = features.frame(labels)
    assert list(table.columns) == ["deploy_id", "a", "b"] and table["a"].isna().tolist() == [False] * 3 + [
        True
    ]
    for name, array in made.items():  # the table's columns are the arrays made, not copies of them
        assert np.shares_memory(table[name].to_numpy(), array)
    assert features._columns == {}  # let go: the table is the arrays' only holder


@pytest.mark.parametrize("dtype", ["string", "object", "int64"])
def test_shared_values_are_the_column_values_one_object_per_distinct_value(dtype):
    from karma_pipelines.contracts.schema import column_values, shared_values

    names = [f"web-{i % 3}" for i in range(30)] if dtype != "int64" else [i % 3 for i in range(30)]
    column = pd.Series(names, dtype=dtype)
    if dtype == "string":
        column[[4, 7]] = pd.NA  # missing names stay missing, as `column_values` has them
    got, expected = shared_values(column), column_values(column)
    assert len(got) == len(expected) == 30
    assert all(
        (a is b) if b is pd.NA else (a == b and type(a) is type(b))
        for a, b in zip(got, expected, strict=True)
    )
    present = [v for v in got if v is not pd.NA]
    assert len({id(v) for v in present}) == len(set(present)) == 3  # one object for each name


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["vpc/a", "ecs/b", "rds/c"]),
            st.integers(0, 5),  # hour of the snapshot: ties across components and within one
            st.none()
            | st.lists(st.sampled_from(["vpc/a", "ecs/b", "rds/c", "sg/d"]), unique=True).map(sorted),
        ),
        max_size=25,
    )
)
def test_edge_changes_are_the_edges_each_snapshot_gains_and_the_next_one_loses(snapshots):
    from karma_pipelines.features.graph import edge_changes

    frame = pd.DataFrame(
        {
            "deploy_id": [f"d{i:03d}" for i in range(len(snapshots))],
            "component": pd.Series([c for c, _, _ in snapshots], dtype="string"),
            "captured_at": pd.to_datetime([T0 + pd.Timedelta(hours=h) for _, h, _ in snapshots], utc=True),
            "references": pd.Series([r for _, _, r in snapshots], dtype=object),
        }
    )
    # From the definition: each component's snapshots in time order (then deploy id), compared in turn.
    expected = []
    ordered = frame.sort_values(["captured_at", "deploy_id"], kind="stable")
    for component, rows in ordered.groupby("component", sort=False):
        had: list = []
        for t, refs in zip(rows["captured_at"], rows["references"], strict=True):
            refs = refs or []
            expected += [(component, target, t, 1) for target in refs if target not in had]
            expected += [(component, target, t, -1) for target in had if target not in refs]
            had = refs
    got = edge_changes(frame)
    assert list(got.columns) == ["source", "target", "t", "delta"]
    assert sorted(got.itertuples(index=False, name=None)) == sorted(expected)
    assert got["delta"].dtype == "int64" and got["t"].dtype == frame["captured_at"].dtype
    assert (got["delta"].diff().fillna(0) <= 0).all()  # the additions, then the removals
