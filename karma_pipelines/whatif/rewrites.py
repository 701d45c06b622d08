"""Safe rewrites of the dependency graph: repoint a consumer's reference (`vpc_nickname`, `src_nickname`,
`*_runtime_path`) from a producer to a healthier one of the same type in the same environment, or move
the readers of one half of a blue/green pair to the pair's alias.

A rewrite is suggested only when it is safe:
- no cycle: the target does not read the consumer, directly or transitively;
- no environment crossing: consumer, current producer and target are in one environment (and in one
  project, when their configs' `tags.Project` say: another team's producer is never a target);
- no field broken: every runtime field the consumer reads of its producer is among the target's runtime
  fields (a component's runtime fields are the fields of the config Karma applied; what a consumer
  reads of a producer type is what every producer of that type its type's components read has in common).
A target is healthier when its rollback rate is lower by a one-sided Fisher exact test (p < 0.05) and it
changes and drifts no more often. `find_rewrites` is the pure rule (a graph, runtime fields, health);
`suggest_rewrites` runs it on a what-if engine's history and predicts each rewrite's effect with it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import networkx as nx
import pandas as pd
from scipy.stats import binomtest, fisher_exact

from karma_pipelines.contracts.config_fields import flatten
from karma_pipelines.contracts.redaction import redact
from karma_pipelines.suggester.corpus import PAIR_TOKENS
from karma_pipelines.whatif.change import ProposedChange
from karma_pipelines.whatif.health import producer_health
from karma_pipelines.whatif.impact import blast_radius, plain, reference_kinds

P_VALUE = 0.05


@dataclass
class Rewrite:
    kind: str  # `repoint` or `alias`
    consumer: str
    environment: str
    field: str  # the consumer's reference field (its kind: `vpc_nickname`, …)
    source: str  # the producer it reads now
    target: str  # the producer (or alias) it would read
    reason: str
    p_value: float | None = None
    effect: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        d = asdict(self)
        keys = ("kind", "consumer", "environment", "field", "source", "target", "reason", "p_value", "effect")
        return {{"source": "from", "target": "to"}.get(k, k): d[k] for k in keys}


class Interfaces:
    """What components of one type read of producers of another: the runtime fields every producer of
    that type read by a component of that type has (computed once per pair of types)."""

    def __init__(self, graph: nx.DiGraph, runtime: dict[str, frozenset[str]]):
        self.graph, self.runtime = graph, runtime
        self._common: dict[tuple, frozenset | None] = {}
        for a, b in graph.edges():
            if b not in runtime or not reference_kinds(graph, a, b):
                continue
            pair = (graph.nodes[a].get("component_type"), graph.nodes[b].get("component_type"))
            seen = self._common.get(pair)
            self._common[pair] = runtime[b] if seen is None else seen & runtime[b]

    def reads_of(self, consumer: str, producer: str) -> frozenset[str]:
        """The runtime fields `consumer` reads of `producer`."""
        nodes = self.graph.nodes
        pair = (nodes[consumer].get("component_type"), nodes[producer].get("component_type"))
        own = self.runtime.get(producer, frozenset())
        common = self._common.get(pair)
        return own if common is None else own & common


def is_safe(
    graph: nx.DiGraph, faces: Interfaces, consumer: str, source: str, target: str
) -> tuple[bool, str]:
    """(safe, why not) of `consumer` reading `target` instead of `source`."""
    nodes, runtime = graph.nodes, faces.runtime
    if target not in graph or target in (consumer, source) or not nodes[target].get("known", True):
        return False, "target unknown"
    env = nodes[consumer].get("environment")
    if not (env == nodes[source].get("environment") == nodes[target].get("environment")):
        return False, "crosses an environment"
    if nodes[target].get("component_type") != nodes[source].get("component_type"):
        return False, "another type"
    if consumer in nx.descendants(graph, target) or consumer == target:
        return False, "would make a cycle"
    missing = faces.reads_of(consumer, source) - runtime.get(target, frozenset())
    if missing:
        return False, f"target lacks {len(missing)} field(s) the consumer reads"
    return True, ""


def _healthier(health: pd.DataFrame, source: str, target: str) -> tuple[float, str] | None:
    """(p-value, what) when `target` is healthier than `source`: no worse in rollback rate, changes
    and drifts per month, and better in rollback rate (one-sided Fisher exact test) or in changes per
    month (one-sided binomial test of the two counts against their exposure) at P_VALUE; else None."""
    if source not in health.index or target not in health.index:
        return None
    a, b = health.loc[source], health.loc[target]
    if a["deploys"] == 0 or b["deploys"] == 0 or b["rollback_rate"] > a["rollback_rate"]:
        return None
    if b["changes_per_month"] > a["changes_per_month"] or b["drifts_per_month"] > a["drifts_per_month"]:
        return None
    table = [[a["rollbacks"], a["deploys"] - a["rollbacks"]], [b["rollbacks"], b["deploys"] - b["rollbacks"]]]
    p_rollback = float(fisher_exact(table, alternative="greater").pvalue)
    n = int(a["changes"] + b["changes"])
    share = float(a["months"] / (a["months"] + b["months"]))
    p_changes = float(binomtest(int(a["changes"]), n, share, alternative="greater").pvalue) if n else 1.0
    best = min((p_rollback, "rollback rate"), (p_changes, "changes per month"))
    return best if best[0] < P_VALUE else None


def find_rewrites(
    graph: nx.DiGraph,
    runtime: dict[str, frozenset[str]],
    health: pd.DataFrame,
    projects: dict[str, str] | None = None,
) -> list[Rewrite]:
    """Every safe repoint to a healthier producer (the best target per consumer reference, same project
    only: another team's producer is never a target when both say their `tags.Project`), and every
    safe move of a pair half's readers to the pair's alias."""
    health = health.set_index("component") if "component" in health.columns else health
    faces = Interfaces(graph, runtime)
    by_place: dict[tuple, list[str]] = {}
    for node, data in graph.nodes(data=True):
        if data.get("known", True) and node in runtime:
            by_place.setdefault((data.get("component_type"), data.get("environment")), []).append(node)
    out: list[Rewrite] = []
    for consumer, source in sorted(graph.edges()):
        kinds = reference_kinds(graph, consumer, source)
        if not kinds or not graph.nodes[source].get("known", True):
            continue
        place = (graph.nodes[source].get("component_type"), graph.nodes[source].get("environment"))
        best = None
        for target in sorted(by_place.get(place, [])):
            if _other_project(projects or {}, source, target):
                continue
            better = _healthier(health, source, target)
            if better is None or not is_safe(graph, faces, consumer, source, target)[0]:
                continue
            key = (health.loc[target, "rollback_rate"], better[0], target, better[1])
            best = key if best is None or key < best else best
        if best is not None:
            rate_b, p, target, what = best
            a, b = health.loc[source], health.loc[target]
            out.append(Rewrite(
                "repoint", consumer, str(graph.nodes[consumer].get("environment")), kinds[0], source, target,
                f"{target} is healthier: rollback rate {rate_b:.0%} vs {a['rollback_rate']:.0%}, "
                f"{b['changes_per_month']:.1f} vs {a['changes_per_month']:.1f} changes/month, "
                f"drifts no more often (better {what}: one-sided p={p:.3f})", p,
            ))  # fmt: skip
    return out + _alias_moves(graph, faces)


def _other_project(projects: dict[str, str], a: str, b: str) -> bool:
    return a in projects and b in projects and projects[a] != projects[b]


def pair_alias(component: str) -> str | None:
    """`ecs-service/api-prod` for `ecs-service/api-prod-a` (a blue/green half), else None."""
    head, _, last = component.rpartition("-")
    return head if head and last.lower() in PAIR_TOKENS and "/" in head else None


def _alias_moves(graph: nx.DiGraph, faces: Interfaces) -> list[Rewrite]:
    runtime = faces.runtime
    halves: dict[str, list[str]] = {}
    for node in graph:
        alias = pair_alias(node)
        if alias and node in runtime:
            halves.setdefault(alias, []).append(node)
    out = []
    for alias, members in sorted(halves.items()):
        if len(members) != 2:
            continue
        common = runtime[members[0]] & runtime[members[1]]
        for member in members:
            for consumer in sorted(graph.predecessors(member)):
                kinds = reference_kinds(graph, consumer, member)
                envs = {graph.nodes[n].get("environment") for n in (consumer, *members)}
                if not kinds or len(envs) != 1 or consumer in members:
                    continue
                if any(consumer in nx.descendants(graph, m) for m in members):  # the alias is either
                    continue
                if faces.reads_of(consumer, member) - common:
                    continue
                out.append(Rewrite(
                    "alias", consumer, envs.pop(), kinds[0], member, alias,
                    f"reads one half of the blue/green pair {alias}: "
                    "a switchover would leave it on the idle one",
                ))  # fmt: skip
    return out


def runtime_fields(engine, at: pd.Timestamp) -> tuple[dict[str, frozenset[str]], dict[str, str]]:
    """Each live component's runtime fields (the field paths of its latest config before `at`), and
    its project (`tags.Project`) when its config says."""
    snaps = engine.snaps_sorted[engine.snaps_sorted["captured_at"] < at]
    latest = snaps.drop_duplicates(["component", "environment"], keep="last")
    latest = latest[latest["n_fields"] > 0]
    nodes = [
        engine.graphs.node(c, e) for c, e in zip(latest["component"], latest["environment"], strict=True)
    ]
    runtime = {n: frozenset(f) for n, f in zip(nodes, latest["field_paths"], strict=True)}
    projects = {}
    for comp, text in zip(nodes, latest["config_json"], strict=True):
        project = (json.loads(text).get("tags") or {}).get("Project")
        if isinstance(project, str) and project:
            projects[comp] = project
    return runtime, projects


def _patch_for(config: dict, kind: str, source: str, target: str) -> dict:
    """The patch that makes `config`'s `kind` reference name `target` instead of `source`."""
    old_nick, new_nick = source.partition("/")[2], target.partition("/")[2]
    patch = {}
    for path, value in flatten(config).items():
        if path.rpartition(".")[2] != kind or not isinstance(value, str):
            continue
        if value == old_nick:
            patch[path] = new_nick
        elif kind.endswith("_runtime_path") and f"/{source}/" in value:
            patch[path] = value.replace(f"/{source}/", f"/{target}/")
    return patch


def suggest_rewrites(engine, at: pd.Timestamp | None = None) -> list[Rewrite]:
    """Safe rewrites of the graph before `at` (default now), each with its effect predicted by the
    what-if engine: the readers (consumer and its own readers) invalidated per month before and after
    (the producer's changes per month × readers), the producer's rollback rate before and after, and the
    rollback risk and blast radius of making the rewrite itself."""
    at = engine.end if at is None else pd.Timestamp(at)
    graph = engine.graphs.at(at)
    runtime, projects = runtime_fields(engine, at)
    per_component = producer_health(engine.deploys, engine.events, at).set_index("component")
    nodes = [n for n in graph if plain(graph, n) in per_component.index]
    health = per_component.loc[[plain(graph, n) for n in nodes]].set_axis(nodes)  # a node: its key's
    found = find_rewrites(graph, runtime, health, projects)
    for rw in found:
        readers = 1 + len(blast_radius(graph, rw.consumer))
        before = health.loc[rw.source] if rw.source in health.index else None
        after = health.loc[rw.target] if rw.target in health.index else None
        effect = {"readers": readers}
        if before is not None and after is not None:
            effect.update(
                invalidations_per_month_before=round(float(before["changes_per_month"]) * readers, 3),
                invalidations_per_month_after=round(float(after["changes_per_month"]) * readers, 3),
                upstream_rollback_rate_before=round(float(before["rollback_rate"]), 4),
                upstream_rollback_rate_after=round(float(after["rollback_rate"]), 4),
            )
        config, _ = engine.current(plain(graph, rw.consumer), at, rw.environment)
        patch = _patch_for(config or {}, rw.field, plain(graph, rw.source), plain(graph, rw.target))
        if patch:
            change = ProposedChange(plain(graph, rw.consumer), rw.environment, patch=patch)
            what = engine.analyse(change, at=at, graph=graph)
            effect.update(
                rewrite_risk=what.risk["score"],
                rewrite_invalidates=len(what.blast_radius),
                patch=redact(patch),
            )
        rw.effect = effect
    for rw in found:  # the output names components, not graph nodes
        rw.consumer, rw.source = plain(graph, rw.consumer), plain(graph, rw.source)
        rw.target = plain(graph, rw.target) if rw.target in graph else rw.target
    return found
