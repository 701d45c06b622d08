"""Anomalous connections and structural changes of the dependency graph, scored with a reason.

For a period (a week by default), every edge that appeared or was re-pointed in it and every structural
change (a cycle closed, a fan-in that at least tripled, a producer removed while others still read it)
gets a score in [0, 1) and a reason a person can read. The score is a noisy-or of what is unusual
about it, each judged against the graph's own past (edges seen at any earlier period start):

- environments: a component reading another environment's runtime ("a dev component reads a prod
  runtime");
- novelty: how often a component of this type has depended on a component of that type, in the same
  or another environment ("no ecs-service has ever depended on an sqs-queue in another environment"),
  weighed by how much of this type's past there is to go by;
- a reference to a component that has no config;
- the embedding (`graph.embeddings`): ends far apart, compared with the period's other edges;
- a cycle closed by the edge; a fan-in tripled in the period; a producer removed under its readers.

`findings(history, periods=1)` -> one row per finding of the last `periods` periods, riskiest first,
columns FINDING_COLUMNS (`since`: when the change happened).
"""

from __future__ import annotations

from collections import Counter

import networkx as nx
import numpy as np
import pandas as pd

from karma_pipelines.graph.embeddings import period_embeddings

FINDING_COLUMNS = ["kind", "component", "environment", "other", "score", "reason", "since", "period_start"]
KNOWN_ENVS = ("dev", "staging", "prod")
W_CROSS, W_PROD, W_NOVEL, W_RARE, W_DANGLING, W_EMBED = 0.45, 0.15, 0.5, 0.15, 0.25, 0.1
CYCLE, FAN_IN, HUB_REMOVED = 0.9, 0.6, 0.6


def _a(word: str) -> str:
    """`an ecs-service`, `an sqs-queue` (read letter by letter), `a vpc`."""
    vowel = word[:1] in "aeiou" or word.startswith(("rds", "s3", "sqs", "sns", "ssm"))
    return f"{'an' if vowel else 'a'} {word}"


def _noisy_or(weights) -> float:
    return float(1.0 - np.prod([1.0 - w for w in weights])) if weights else 0.0


def _env(graph: nx.DiGraph, node: str) -> str:
    return str(graph.nodes[node].get("environment", "unknown")) if node in graph else "unknown"


def _type(graph: nx.DiGraph, node: str) -> str:
    return str(graph.nodes[node].get("component_type", node.partition("/")[0])) if node in graph else node


class _Past:
    """Edges seen at any earlier period start: counts per (source type, target type, same env)."""

    def __init__(self):
        self.seen: set[tuple[str, str]] = set()
        self.pattern: Counter = Counter()
        self.by_type: Counter = Counter()  # components of each type seen
        self.nodes: set[str] = set()

    def add(self, graph: nx.DiGraph) -> None:
        for n, d in graph.nodes(data=True):
            if d.get("known") and n not in self.nodes:
                self.nodes.add(n)
                self.by_type[_type(graph, n)] += 1
        for a, b in graph.edges:
            if (a, b) in self.seen:
                continue
            self.seen.add((a, b))
            self.pattern[self.key(graph, a, b)] += 1

    @staticmethod
    def key(graph, a, b) -> tuple[str, str, bool]:
        return _type(graph, a), _type(graph, b), _env(graph, a) == _env(graph, b)


def _edge_finding(graph, past: _Past, a, b, kind, change, previous, far) -> tuple[float, list[str]]:
    weights, reasons = [], []
    ea, eb, ta, tb = _env(graph, a), _env(graph, b), _type(graph, a), _type(graph, b)
    cross = ea != eb and ea in KNOWN_ENVS and eb in KNOWN_ENVS
    if cross:
        weights.append(W_CROSS)
        reasons.append(f"{_a(ea)} component reads {_a(eb)} runtime")
        if eb == "prod":
            weights.append(W_PROD)
    if not graph.nodes[b].get("known", True):
        weights.append(W_DANGLING)
        reasons.append(f"it reads {b}, which has no config")
    count, history = past.pattern[past.key(graph, a, b)], past.by_type[ta]
    where = " in another environment" if cross else ""
    if count == 0:
        weights.append(W_NOVEL * history / (history + 3))
        reasons.append(
            f"no {ta} has ever depended on {_a(tb)}{where} ({history} seen)"
            if history
            else f"the first {ta} seen ({ta} → {tb}{where})"
        )
    elif count <= 2:
        weights.append(W_RARE / count)
        reasons.append(f"only {count} {ta} → {tb} dependencies{where} before")
    if far is not None and far > 2:
        weights.append(W_EMBED * min(1.0, far / 4))
        reasons.append(f"its ends are far apart in the graph embedding (z = {far:.1f})")
    if change == "edge_repointed":
        reasons.append(f"re-pointed from {previous}")
    return _noisy_or(weights), reasons


def _far(frame: pd.DataFrame | None, edges: list[tuple[str, str]]) -> dict[tuple[str, str], float]:
    """z-score of each edge's embedding distance among these edges (None without an embedding)."""
    if frame is None or frame.empty:
        return {}
    pairs = [(a, b) for a, b in edges if a in frame.index and b in frame.index]
    if len(pairs) < 5:
        return {}
    values = frame.to_numpy()
    index = {n: i for i, n in enumerate(frame.index)}
    dist = np.array([np.linalg.norm(values[index[a]] - values[index[b]]) for a, b in pairs])
    z = (dist - dist.mean()) / (dist.std() or 1.0)
    return dict(zip(pairs, z, strict=True))


def score_period(before, after, delta: pd.DataFrame, past: _Past, frame=None) -> list[dict]:
    """The findings of one period: `before` / `after` the graphs at its start / end, `delta` its rows of
    `GraphHistory.deltas`, `past` what was seen before it, `frame` the embedding of `after`."""
    rows: list[dict] = []
    start = delta["period_start"].iloc[0] if len(delta) else None
    edges = delta[delta["change"].isin(["edge_added", "edge_repointed", "edge_transient"])]
    far = _far(frame, list(after.edges))
    new_cycles = _new_cycles(before, after)
    for r in edges.itertuples(index=False):
        a, b = r.component, r.other
        graph = after if after.has_edge(a, b) else before if a in before and b in before else None
        if graph is None and a in after and b in after:
            graph = after
        if graph is None:
            continue
        score, reasons = _edge_finding(graph, past, a, b, r.kind, r.change, r.previous, far.get((a, b)))
        kind = "repointed_edge" if r.change == "edge_repointed" else "new_edge"
        if r.change == "edge_transient":
            reasons.append("removed again within the period")
        rows.append(_row(kind, a, _env(graph, a), b, score, reasons, r.at, start))
    for cycle in new_cycles:
        closing = [i for i, row in enumerate(rows) if row["component"] in cycle and row["other"] in cycle]
        if not closing:
            continue
        # The edge that closed it: its target already reached its source, else the most unusual one.
        best = max(
            closing,
            key=lambda i: (_reached(before, rows[i]["other"], rows[i]["component"]), rows[i]["score"]),
        )
        row = rows[best]
        path = _cycle_path(after, row["component"], row["other"])
        row["reason"] = f"a cycle appeared: {' → '.join(path)}; " + row["reason"]
        row["score"], row["kind"] = round(_noisy_or([row["score"], CYCLE]), 4), "cycle"
    for node in after:
        old = before.in_degree(node) if node in before else 0
        new = after.in_degree(node)
        if node in before and new >= 3 * max(old, 1) and new - old >= 3:
            times = (
                "tripled" if old and new < 4 * old else f"grew {new / old:.0f}-fold" if old else "appeared"
            )
            reason = (
                f"this {_type(after, node)}'s fan-in {times} in a period ({old} → {new})"
                if old
                else f"this {_type(after, node)} went from no dependents to {new} in a period"
            )
            since = _latest_in_edge(after, node, start)
            rows.append(
                _row(
                    "fan_in",
                    node,
                    _env(after, node),
                    None,
                    FAN_IN + 0.1 * min(1, new / 12),
                    [reason],
                    since,
                    start,
                )
            )
    for r in delta[delta["change"] == "node_removed"].itertuples(index=False):
        readers = [a for a in after.predecessors(r.component)] if r.component in after else []
        if readers:
            reason = f"{r.component} was removed while {len(readers)} component(s) still read it"
            rows.append(
                _row(
                    "hub_removed", r.component, r.environment, readers[0], HUB_REMOVED, [reason], r.at, start
                )
            )
    return rows


def _new_cycles(before: nx.DiGraph, after: nx.DiGraph) -> list[frozenset]:
    old = {frozenset(c) for c in nx.strongly_connected_components(before) if len(c) > 1}
    return [
        frozenset(c)
        for c in nx.strongly_connected_components(after)
        if len(c) > 1 and frozenset(c) not in old
    ]


def _reached(graph: nx.DiGraph, source: str, target: str) -> bool:
    return source in graph and target in graph and nx.has_path(graph, source, target)


def _cycle_path(graph: nx.DiGraph, a: str, b: str) -> list[str]:
    try:
        back = nx.shortest_path(graph, b, a)
    except nx.NetworkXNoPath:
        return [a, b]
    return [a, *back]


def _latest_in_edge(graph, node, default):
    times = [d.get("since") for _, _, d in graph.in_edges(node, data=True) if d.get("since") is not None]
    return max(times) if times else default


def _row(kind, component, environment, other, score, reasons, since, start) -> dict:
    return {
        "kind": kind,
        "component": component,
        "environment": environment,
        "other": other,
        "score": round(float(score), 4),
        "reason": "; ".join(reasons) if reasons else "an ordinary change",
        "since": since,
        "period_start": start,
    }


def findings(history, freq: str = "W", periods: int = 1, embeddings=None) -> pd.DataFrame:
    """Findings of the last `periods` periods of `history` (a `GraphHistory`), riskiest first."""
    bounds = history.boundaries(freq)
    if len(bounds) < 2:
        return pd.DataFrame(columns=FINDING_COLUMNS)
    embeddings = embeddings if embeddings is not None else period_embeddings(history, freq)
    delta = history.deltas(freq)
    graphs = embeddings.graphs
    past = _Past()
    rows: list[dict] = []
    first_scored = len(bounds) - 1 - periods
    for i in range(len(bounds) - 1):
        before, after = graphs[i], graphs[i + 1]
        past.add(before)
        if i >= first_scored:
            part = delta[delta["period_start"] == bounds[i]]
            rows += score_period(before, after, part, past, embeddings.frames[i + 1])
    out = pd.DataFrame(rows, columns=FINDING_COLUMNS)
    return out.sort_values(["score", "since"], ascending=[False, False], kind="stable").reset_index(drop=True)
