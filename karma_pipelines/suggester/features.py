"""Features of a query (config, field): evidence that the field belongs in the config, given the rest
of it (every other field, never the field itself), read from `CorpusStats` (`type_features`,
`name_features`).

Queries are scored in bulk, one component type at a time, with dense numpy gathers: no Python loop
runs per (config, field) pair; the few loops left run per distinct field name of a type.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from karma_pipelines.suggester.code_evidence import CodeEvidence
from karma_pipelines.suggester.name_features import _NameEvidence
from karma_pipelines.suggester.stats import CorpusStats, Encoded
from karma_pipelines.suggester.type_features import _TypeFeaturizer

FEATURES = (
    "type_rate", "type_support", "type_env_rate", "n_type", "n_context",
    "assoc_max", "assoc_max_support", "assoc_mean", "assoc_min", "assoc_strong", "ctx_assoc_max",
    "ctx_assoc_min",
    "knn_rate", "knn_top_sim", "nn_has", "twin_rate", "n_twins",
    "depth", "is_map_child", "pattern_rate", "instance_in_context", "sibling_instance_rate",
    "parent_in_context",
    "near_common_field", "typo_of_present", "other_type_rate",
    "code_available", "code_read", "code_required",
    "baseline_score",
)  # fmt: skip
# The question asked of a query (0: should it be set? 1: does the set field belong?), set per query.
INPUTS = (*FEATURES, "is_set")
# Not model features: what the reasons of a suggestion name.
EXPLAIN = ("why_rule_from", "why_near", "why_other_type")


@dataclass
class Queries:
    """Pairs to score: row of the query corpus, field id, and whether the row sets the field (then
    the evidence is read from the rest of the config)."""

    row: np.ndarray
    fid: np.ndarray
    present: np.ndarray

    def __len__(self) -> int:
        return len(self.row)

    @staticmethod
    def concat(parts: list[Queries]) -> Queries:
        return Queries(
            np.concatenate([p.row for p in parts]).astype(np.int64),
            np.concatenate([p.fid for p in parts]).astype(np.int64),
            np.concatenate([p.present for p in parts]).astype(bool),
        )

    def take(self, idx: np.ndarray) -> Queries:
        return Queries(self.row[idx], self.fid[idx], self.present[idx])


def stats_rows(stats: CorpusStats, qenc: Encoded) -> np.ndarray:
    """For each query row, its own row in the statistics (leave-one-out), or -1."""
    configs = qenc.corpus.configs
    out = np.full(len(configs), -1, dtype=np.int64)
    for i, (key, ctype) in enumerate(zip(configs["key"], configs["component_type"], strict=True)):
        ts = stats.types.get(ctype)
        if ts is not None:
            out[i] = ts.keys.get(key, -1)
    return out


def featurize(
    stats: CorpusStats,
    qenc: Encoded,
    queries: Queries,
    code: CodeEvidence | None = None,
    neighbours: int = 10,
) -> pd.DataFrame:
    """One row per query: FEATURES (and the EXPLAIN columns), in query order."""
    n = len(queries)
    out = {name: np.full(n, np.nan, dtype=np.float64) for name in FEATURES}
    for name in EXPLAIN:
        out[name] = np.full(n, -1, dtype=np.int64)
    srow_all = stats_rows(stats, qenc)
    types = qenc.corpus.configs["component_type"].to_numpy()[queries.row]
    names = _NameEvidence(stats, code)
    order = np.argsort(queries.row, kind="stable")
    for ctype in sorted(set(types)):
        idx = order[types[order] == ctype]
        q = queries.take(idx)
        ts = stats.types.get(ctype)
        if ts is not None:
            _TypeFeaturizer(stats, ts, qenc, srow_all, neighbours).run(q, out, idx)
        else:
            out["n_type"][idx] = 0.0
            out["type_support"][idx] = 0.0
            out["type_rate"][idx] = np.nan
            out["n_context"][idx] = qenc.sizes[q.row] - q.present
        names.fill(ctype, q, qenc, out, idx)
    # The association-rule baseline's own score, so the model can start from it (`baseline.py`).
    out["baseline_score"] = np.maximum(np.nan_to_num(out["type_rate"]), np.nan_to_num(out["assoc_max"]))
    frame = pd.DataFrame(out)
    frame[list(FEATURES)] = frame[list(FEATURES)].astype(np.float32)
    return frame
