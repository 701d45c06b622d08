"""The dependency graph over time: edge kinds, point-in-time, deltas (added, removed, re-pointed)."""

from __future__ import annotations

import pandas as pd

from karma_pipelines.contracts.dependencies import name_links, references, typed_references
from karma_pipelines.graph.over_time import GraphHistory
from tests.factories import T0, history

SERVICE = {
    "ecs_cluster_nickname": "c1",
    "queue": {"src_type": "sqs-queue", "src_nickname": "q1"},
    "db_runtime_path": "/iac/rds-postgres/db1/runtime",
    "route53_zone_name": "dev.acme.example.com",
}


def rows():
    return [
        {"id": "d1", "hours": 1, "component": "vpc/v1", "config": {"cidr": "10.0.0.0/16"}},
        {"id": "d2", "hours": 2, "component": "vpc/v2", "config": {"cidr": "10.1.0.0/16"}},
        {"id": "d3", "hours": 3, "component": "ecs-cluster/c1", "config": {"vpc_nickname": "v1"}},
        {
            "id": "d4",
            "hours": 4,
            "component": "route53-zone/z1",
            "config": {"zone_name": "dev.acme.example.com"},
        },
        {"id": "d5", "hours": 5, "component": "ecs-service/s1", "config": SERVICE},
        # Next week: the cluster moves to v2 (re-pointed), the service drops its queue.
        {"id": "d6", "hours": 200, "component": "ecs-cluster/c1", "config": {"vpc_nickname": "v2"}},
        {"id": "d7", "hours": 201, "component": "ecs-service/s1", "config": {"ecs_cluster_nickname": "c1"}},
        {"id": "d8", "hours": 202, "component": "vpc/v1", "action": "delete", "config": {}},
    ]


def test_every_reference_has_its_field_as_kind():
    assert typed_references(SERVICE) == [
        ("ecs-cluster/c1", "ecs_cluster_nickname"),
        ("rds-postgres/db1", "db_runtime_path"),
        ("sqs-queue/q1", "src_nickname"),
    ]
    assert references(SERVICE) == ["ecs-cluster/c1", "rds-postgres/db1", "sqs-queue/q1"]
    assert name_links(SERVICE) == [("route53_zone_name", "route53-zone", "dev.acme.example.com")]


def test_graph_at_a_time_holds_only_what_was_known_before_it():
    deploys, snaps = history(rows())
    h = GraphHistory(deploys, snaps)
    early = h.at(T0 + pd.Timedelta(hours=5))  # d5 is at 5 h exactly: not yet known
    assert "ecs-service/s1" not in early
    assert early.edges["ecs-cluster/c1", "vpc/v1"]["kind"] == "vpc_nickname"
    g = h.at(T0 + pd.Timedelta(hours=6))
    kinds = {(a, b): d["kind"] for a, b, d in g.edges(data=True)}
    assert kinds[("ecs-service/s1", "route53-zone/z1")] == "route53_zone_name"  # the name link, resolved
    assert kinds[("ecs-service/s1", "sqs-queue/q1")] == "src_nickname"
    assert g.nodes["sqs-queue/q1"]["known"] is False and g.nodes["vpc/v1"]["known"] is True
    assert g.nodes["ecs-service/s1"]["n_fields"] == 5 and g.nodes["ecs-service/s1"]["deploys"] == 1
    late = h.at(T0 + pd.Timedelta(days=30))
    assert "vpc/v1" not in late and late.has_edge("ecs-cluster/c1", "vpc/v2")


def test_weekly_deltas_name_added_removed_and_repointed_edges():
    deploys, snaps = history(rows())
    d = GraphHistory(deploys, snaps).deltas("W")
    second = d[d["period_start"] == d["period_start"].max()]
    repointed = second[second["change"] == "edge_repointed"]
    assert repointed[["component", "previous", "other", "kind"]].values.tolist() == [
        ["ecs-cluster/c1", "vpc/v1", "vpc/v2", "vpc_nickname"]
    ]
    removed = set(map(tuple, second.loc[second["change"] == "edge_removed", ["component", "other"]].values))
    assert removed == {
        ("ecs-service/s1", "sqs-queue/q1"),
        ("ecs-service/s1", "rds-postgres/db1"),
        ("ecs-service/s1", "route53-zone/z1"),
    }
    assert second.loc[second["change"] == "node_removed", "component"].tolist() == ["vpc/v1"]
    first = d[d["period_start"] == d["period_start"].min()]
    assert (first["change"] == "node_added").sum() == 5 and (first["change"] == "edge_added").sum() == 5
