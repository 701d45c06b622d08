"""The world's state at the start of each deploy's day, built incrementally from the snapshots."""

from __future__ import annotations

import math

import networkx as nx
import pandas as pd
import pytest

from karma_pipelines.contracts.config_fields import FlatView, flatten
from karma_pipelines.features.daily_state import daily_state_features


def _snap(deploy_id, when, component, fields, refs=()):
    return {
        "deploy_id": deploy_id,
        "captured_at": pd.Timestamp(when, tz="UTC"),
        "component": component,
        "component_type": component.split("/")[0],
        "field_paths": list(fields),
        "n_fields": len(fields),
        "references": list(refs),
    }


@pytest.fixture
def world():
    snaps = pd.DataFrame(
        [
            _snap("s1", "2026-01-01 10:00", "svc/a", ["x", "y"], ["db/d"]),
            _snap("s2", "2026-01-01 11:00", "svc/b", ["x"], ["db/d"]),
            _snap("s3", "2026-01-01 12:00", "svc/c", ["x", "y"]),
            _snap("s4", "2026-01-01 13:00", "db/d", ["p"]),
            _snap("s5", "2026-01-02 09:00", "svc/c", ["x"]),
            _snap("s6", "2026-01-02 10:00", "svc/a", ["y"], ["db/d"]),
            _snap("s7", "2026-01-02 11:00", "svc/b", []),  # removed
            _snap("s8", "2026-01-03 09:00", "db/d", ["p", "q"]),
        ]
    )
    deploys = snaps[["deploy_id", "component", "component_type"]].assign(deployed_at=snaps["captured_at"])
    return deploys, snaps, daily_state_features(deploys, snaps).set_index("deploy_id")


def test_first_day_sees_nothing_of_itself(world):
    _, _, out = world
    day1 = out.loc[["s1", "s2", "s3", "s4"]]
    assert (day1["downstream_transitive"] == 0).all() and day1["pagerank"].isna().all()
    assert (day1["usual_fields_missing"] == 0).all()


def test_second_day_graph_and_usual_fields(world):
    _, _, out = world
    graph = nx.DiGraph([("svc/a", "db/d"), ("svc/b", "db/d")])
    graph.add_node("svc/c")
    rank = nx.pagerank(graph.reverse())
    # the state of day 2 holds day 1's snapshots only: svc/c's dependents none, the type's usual field x
    assert out.loc["s5", "downstream_transitive"] == 0
    assert math.isclose(out.loc["s5", "pagerank"], rank["svc/c"])
    assert out.loc["s5", "usual_fields_missing"] == 0  # it keeps x (3 of 3 set it); y is 2 of 3
    assert out.loc["s6", "usual_fields_missing"] == 1  # its own config lacks x


def test_a_removed_component_leaves_the_graph_and_its_type(world):
    _, _, out = world
    # day 3: svc/b is gone (an empty config), so db/d has one dependent, and svc has 2 configs:
    # fewer than MIN_CONFIGS, nothing is usual
    assert out.loc["s8", "downstream_transitive"] == 1
    assert out.loc["s8", "usual_fields_missing"] == 0


def test_only_days_builds_those_days_alone(world):
    deploys, snaps, full = world
    day2 = pd.Timestamp("2026-01-02", tz="UTC")
    some = daily_state_features(deploys, snaps, only_days={day2}).set_index("deploy_id")
    pd.testing.assert_frame_equal(some.loc[["s5", "s6", "s7"]], full.loc[["s5", "s6", "s7"]])
    assert (some.loc[["s1", "s8"], "downstream_transitive"] == 0).all()
    assert some.loc[["s1", "s8"], "pagerank"].isna().all()


def test_flat_view_reads_what_flatten_gives():
    config = {
        "a": {"b": 1, "c": {"d": [1, 2]}, "empty": {}},
        "dotted.key": {"x": True},
        "dotted": {"other": "v"},
        "values.yaml": {"image": {"tag": "1.2"}},
        "top": None,
    }
    view, flat = FlatView(config), flatten(config)
    for path, value in flat.items():
        assert path in view and view[path] == value and view.get(path) == value
    for absent in ("a", "a.c", "a.b.z", "dotted.key", "nope", "values", "values.yaml.image"):
        assert absent not in view and view.get(absent, "-") == "-"
    assert view.sections() == {p.split(".", 1)[0] for p in flat}
    assert FlatView(["not", "a", "mapping"]).get("x") is None
