"""Node and edge embeddings of the dependency graph, recomputed per period (point-in-time).

Method: an attribute-aware spectral embedding (Laplacian eigenmaps). Each period's graph (the graph
before the period starts, `GraphHistory`) gets one extra node per component type and per environment,
linked to the components that have it (weight ATTRIBUTE_WEIGHT), so that structure and attributes
shape one embedding and no component is isolated; the embedding is the `dims` leading non-trivial
eigenvectors of the symmetric normalized adjacency (scipy), scaled to random-walk coordinates.
Eigenvectors come in any sign and rotation, so each period is aligned to the previous one by an
orthogonal Procrustes fit on the nodes both have (the attribute nodes are always shared): a dimension
means the same thing from week to week, which a forecaster trained on past weeks needs.

Edge embeddings: the two nodes' embeddings, their element-wise product and a one-hot of the edge's
kind family (`nickname`, `src`, `runtime_path`, `name`).
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.linalg import orthogonal_procrustes
from scipy.sparse.linalg import eigsh

DIMS = 8
ATTRIBUTE_WEIGHT = 0.5
DENSE_BELOW = 40  # nodes: below this a dense eigendecomposition (Lanczos, eigsh, above: faster here)
KIND_FAMILIES = ("nickname", "src", "runtime_path", "name")


def kind_family(kind: str) -> str:
    """`vpc_nickname` -> nickname, `src_nickname` -> src, `db_runtime_path` -> runtime_path, else name."""
    first = kind.split(",")[0]
    if first == "src_nickname":
        return "src"
    if first.endswith("_nickname"):
        return "nickname"
    if first.endswith("_runtime_path"):
        return "runtime_path"
    return "name"


def _attribute_graph(graph: nx.DiGraph) -> tuple[list[str], sp.csr_matrix]:
    nodes = list(graph.nodes)
    attrs = sorted(
        {f"type={d.get('component_type')}" for _, d in graph.nodes(data=True)}
        | {f"env={d.get('environment')}" for _, d in graph.nodes(data=True)}
    )
    names = nodes + attrs
    index = {n: i for i, n in enumerate(names)}
    rows, cols, vals = [], [], []
    for a, b in graph.edges:
        rows.append(index[a])
        cols.append(index[b])
        vals.append(1.0)
    for n, d in graph.nodes(data=True):
        for attr in (f"type={d.get('component_type')}", f"env={d.get('environment')}"):
            rows.append(index[n])
            cols.append(index[attr])
            vals.append(ATTRIBUTE_WEIGHT)
    m = sp.coo_matrix((vals, (rows, cols)), shape=(len(names), len(names))).tocsr()
    return names, (m + m.T).tocsr()


def spectral(graph: nx.DiGraph, dims: int = DIMS) -> pd.DataFrame:
    """One row per node (and per attribute node `type=…`, `env=…`), columns emb_0..emb_{dims-1}."""
    columns = [f"emb_{i}" for i in range(dims)]
    if graph.number_of_nodes() == 0:
        return pd.DataFrame(columns=columns, dtype=float)
    names, adj = _attribute_graph(graph)
    degree = np.asarray(adj.sum(axis=1)).ravel()
    inv_sqrt = 1.0 / np.sqrt(np.maximum(degree, 1e-12))
    norm = sp.diags(inv_sqrt) @ adj @ sp.diags(inv_sqrt)
    k = min(dims + 1, len(names) - 1)
    if len(names) < DENSE_BELOW or k < 1:
        values, vectors = np.linalg.eigh(norm.toarray())
        order = np.argsort(values)[::-1][: k if k >= 1 else 1]
    else:
        values, vectors = eigsh(norm, k=k, which="LA", v0=np.ones(len(names)))
        order = np.argsort(values)[::-1]
    vectors = vectors[:, order][:, 1:] * inv_sqrt[:, None]  # drop the trivial one; random-walk scale
    vectors /= np.maximum(np.abs(vectors).max(axis=0), 1e-12)
    out = np.zeros((len(names), dims))
    out[:, : vectors.shape[1]] = vectors
    return pd.DataFrame(out, index=pd.Index(names, name="node"), columns=columns)


def align(current: pd.DataFrame, previous: pd.DataFrame | None) -> pd.DataFrame:
    """`current` rotated (orthogonal Procrustes) onto `previous` on the nodes both have."""
    if previous is None or previous.empty or current.empty:
        return current
    shared = current.index.intersection(previous.index)
    if len(shared) < 2:
        return current
    rotation, _ = orthogonal_procrustes(current.loc[shared].to_numpy(), previous.loc[shared].to_numpy())
    return pd.DataFrame(current.to_numpy() @ rotation, index=current.index, columns=current.columns)


@dataclass(frozen=True)
class PeriodEmbeddings:
    """Node embeddings per period: `frames[i]` embeds the graph before `starts[i]` (used for
    what happens in [starts[i], starts[i+1])); `seconds[i]` the time it took."""

    starts: list[pd.Timestamp]
    frames: list[pd.DataFrame]
    graphs: list[nx.DiGraph]
    seconds: list[float]
    node: object  # (component, environment) -> node name: `GraphHistory.node`

    def period_of(self, times: pd.Series) -> np.ndarray:
        """Index of the period each time falls in (-1 before the first)."""
        starts = pd.DatetimeIndex(self.starts)
        return starts.searchsorted(pd.DatetimeIndex(times), side="right") - 1


def period_embeddings(history, freq: str = "W", dims: int = DIMS) -> PeriodEmbeddings:
    """Embeddings of the graph before each period of `history` (a `GraphHistory`), aligned in turn."""
    import time

    starts = history.boundaries(freq)
    frames, graphs, seconds, previous = [], [], [], None
    for _, state in history.states(starts):
        began = time.perf_counter()
        graph = state.graph()
        frame = align(spectral(graph, dims), previous)
        seconds.append(time.perf_counter() - began)
        frames.append(frame)
        graphs.append(graph)
        previous = frame if not frame.empty else previous
    return PeriodEmbeddings(starts, frames, graphs, seconds, history.node)


def edge_embedding(frame: pd.DataFrame, source: str, target: str, kind: str) -> np.ndarray:
    """[source, target, source * target, one-hot kind family]; NaN for a node not embedded."""
    dims = frame.shape[1]
    a = frame.loc[source].to_numpy() if source in frame.index else np.full(dims, np.nan)
    b = frame.loc[target].to_numpy() if target in frame.index else np.full(dims, np.nan)
    onehot = np.array([float(kind_family(kind) == f) for f in KIND_FAMILIES])
    return np.concatenate([a, b, a * b, onehot])
