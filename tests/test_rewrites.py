"""Safe dependency-graph rewrites: over random graphs no unsafe rewrite is ever suggested (hypothesis), and
each unsafe variant of a safe rewrite is refused. (The planted twins found: tests/test_whatif.py.)"""

import networkx as nx
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from karma_pipelines.whatif.health import COLUMNS
from karma_pipelines.whatif.rewrites import find_rewrites, pair_alias

TYPES = ("vpc", "vpc", "lambda")
ENVS = ("dev", "prod", "prod")
FIELDS = ("cidr", "az_count", "name", "arn")


@st.composite
def graphs(draw):
    """A random graph of components of a few types, environments and projects, each with random
    runtime fields, references (possibly cyclic, possibly across environments) and health."""
    n = draw(st.integers(3, 12))
    g = nx.DiGraph()
    runtime, projects, rows = {}, {}, []
    for i in range(n):
        ctype, env = draw(st.sampled_from(TYPES)), draw(st.sampled_from(ENVS))
        halves = ["-a", "-b"] if draw(st.integers(0, 4)) == 0 else [""]  # now and then a blue/green pair
        for half in halves:
            key = f"{ctype}/c{i}-{env}{half}"
            g.add_node(key, component_type=ctype, environment=env, known=True)
            runtime[key] = frozenset(draw(st.sets(st.sampled_from(FIELDS), min_size=1)))
            projects[key] = draw(st.sampled_from(["p", "p", "p", "q"]))
            sick = draw(st.booleans())  # a sick producer is rolled back and changed far more often
            deploys = draw(st.integers(0, 40))
            rollbacks = draw(st.integers(deploys // 2, deploys) if sick else st.integers(0, min(2, deploys)))
            changes = draw(st.integers(20, 60) if sick else st.integers(0, 20))
            rows.append([key, deploys, rollbacks, rollbacks / deploys if deploys else float("nan"), changes,
                         3.0, changes / 3.0, draw(st.integers(0, 5)) / 3.0])  # fmt: skip
    nodes = list(g)
    for a, b in draw(
        st.lists(st.tuples(st.sampled_from(nodes), st.sampled_from(nodes)), min_size=n, max_size=3 * n)
    ):
        if a != b:
            kind = draw(st.sampled_from(["vpc_nickname", "queue_runtime_path", "route53_zone_name"]))
            g.add_edge(a, b, kind=kind)
    return g, runtime, projects, pd.DataFrame(rows, columns=COLUMNS)


def _reads(g, runtime, consumer, producer):
    """Independently: what every producer of `producer`'s type that a component of `consumer`'s type
    references has in common, restricted to `producer`'s own fields."""
    ctype, ptype = g.nodes[consumer]["component_type"], g.nodes[producer]["component_type"]
    shared = set(runtime[producer])
    for a, b, data in g.edges(data=True):
        kinds = set(data["kind"].split(",")) - {"route53_zone_name"}
        if kinds and g.nodes[a]["component_type"] == ctype and g.nodes[b]["component_type"] == ptype:
            shared &= runtime[b]
    return shared


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs())
def test_no_unsafe_rewrite_is_ever_suggested(drawn):
    g, runtime, projects, health = drawn
    for rw in find_rewrites(g, runtime, health, projects):
        assert g.has_edge(rw.consumer, rw.source)
        if rw.kind == "alias":
            assert pair_alias(rw.source) == rw.target
            targets = [n for n in g if pair_alias(n) == rw.target]
        else:
            targets = [rw.target]
            assert projects[rw.source] == projects[rw.target]
            h = health.set_index("component")
            assert h.loc[rw.target, "rollback_rate"] <= h.loc[rw.source, "rollback_rate"]
        for target in targets:
            envs = {g.nodes[x]["environment"] for x in (rw.consumer, rw.source, target)}
            assert len(envs) == 1, rw  # no environment crossing
            assert g.nodes[target]["component_type"] == g.nodes[rw.source]["component_type"]
            after = g.copy()
            after.remove_edge(rw.consumer, rw.source)
            after.add_edge(rw.consumer, target, kind=rw.field)
            assert rw.consumer != target and not nx.has_path(after, target, rw.consumer), rw  # no cycle
            assert _reads(g, runtime, rw.consumer, rw.source) <= runtime[target], rw  # no field broken


def _world(extra_edges=(), target_fields=("cidr", "az_count"), target_env="prod", target_project="p"):
    g = nx.DiGraph()
    nodes = {"lambda/fn-prod": "prod", "vpc/sick-prod": "prod", "vpc/well-prod": target_env}
    for key, env in nodes.items():
        g.add_node(key, component_type=key.partition("/")[0], environment=env, known=True)
    g.add_edge("lambda/fn-prod", "vpc/sick-prod", kind="vpc_nickname")
    for a, b in extra_edges:
        g.add_edge(a, b, kind="vpc_nickname")
    runtime = {"lambda/fn-prod": frozenset({"name"}), "vpc/sick-prod": frozenset({"cidr", "az_count"}),
               "vpc/well-prod": frozenset(target_fields)}  # fmt: skip
    projects = {"lambda/fn-prod": "p", "vpc/sick-prod": "p", "vpc/well-prod": target_project}
    health = pd.DataFrame(
        [["lambda/fn-prod", 10, 1, 0.1, 5, 3.0, 5 / 3, 0.0],
         ["vpc/sick-prod", 30, 18, 0.6, 45, 3.0, 15.0, 1.0],
         ["vpc/well-prod", 30, 1, 1 / 30, 6, 3.0, 2.0, 0.0]],
        columns=COLUMNS,
    )  # fmt: skip
    return find_rewrites(g, runtime, health, projects)


def test_a_safe_repoint_is_found_and_each_unsafe_variant_refused():
    found = _world()
    assert [(r.consumer, r.source, r.target, r.field) for r in found] == [
        ("lambda/fn-prod", "vpc/sick-prod", "vpc/well-prod", "vpc_nickname")
    ]
    assert _world(extra_edges=[("vpc/well-prod", "lambda/fn-prod")]) == []  # a cycle
    assert _world(target_env="dev") == []  # another environment
    assert _world(target_fields=("cidr",)) == []  # lacks `az_count`, which the lambda reads
    assert _world(target_project="q") == []  # another team's
