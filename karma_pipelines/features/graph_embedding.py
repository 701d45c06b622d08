"""Forecaster features from the graph's embeddings (`graph.embeddings`): the deployed component's node
embedding in the graph before the deploy's week, and the mean edge embedding (element-wise product of
the two nodes') of its dependencies there. NaN for a component the graph did not have yet."""

from __future__ import annotations

import numpy as np
import pandas as pd

from karma_pipelines.graph.embeddings import DIMS, period_embeddings
from karma_pipelines.graph.over_time import GraphHistory

FREQ = "W"


def feature_names(dims: int = DIMS) -> list[str]:
    return [f"graph_emb_{i}" for i in range(dims)] + [f"graph_edge_emb_{i}" for i in range(dims)]


def graph_embedding_features(
    deploys: pd.DataFrame, snapshots: pd.DataFrame, dims: int = DIMS, embeddings=None
) -> pd.DataFrame:
    """One row per deploy (index aligned with `deploys`), columns `feature_names(dims)`."""
    out = np.full((len(deploys), 2 * dims), np.nan)
    if len(deploys) and len(snapshots):
        if embeddings is None:
            embeddings = period_embeddings(GraphHistory(deploys, snapshots), FREQ, dims)
        period = embeddings.period_of(deploys["deployed_at"])
        components = [
            embeddings.node(c, e)
            for c, e in zip(deploys["component"].astype(str), deploys["environment"].astype(str), strict=True)
        ]
        for p in np.unique(period[period >= 0]):
            frame, graph = embeddings.frames[p], embeddings.graphs[p]
            if frame.empty:
                continue
            values = frame.to_numpy()
            index = {n: i for i, n in enumerate(frame.index)}
            edge_mean: dict[str, np.ndarray] = {}
            for pos in np.flatnonzero(period == p):
                comp = components[pos]
                i = index.get(comp)
                if i is None:
                    continue
                out[pos, :dims] = values[i]
                if comp not in edge_mean:
                    targets = [index[t] for t in graph.successors(comp) if t in index]
                    edge_mean[comp] = (
                        (values[i] * values[targets]).mean(axis=0) if targets else np.full(dims, np.nan)
                    )
                out[pos, dims:] = edge_mean[comp]
    return pd.DataFrame(out, columns=feature_names(dims), index=deploys.index)
