"""Corpus statistics the features are read from: per component type, dense field counts (by
environment and by service group), the field co-occurrence matrix, the config-by-field matrix for
nearest neighbours, and counts of user-named map entries (`functions.<name>.*`).

Fitted once per corpus with numpy/scipy products, never with per-(config, field) loops. A config of
the fitted corpus that is scored later is left out of the counts (leave-one-out), so a field never
votes for itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from karma_pipelines.suggester.corpus import Corpus
from karma_pipelines.suggester.structure import MapChild, map_child, map_parents

ROW_SHIFT = np.int64(1) << np.int64(32)


class Vocab:
    """Field names and context tokens (`@env:prod`) <-> integer ids; grows as new names are seen."""

    def __init__(self, names: Iterable[str] = ()):
        self.names: list[str] = []
        self.index: dict[str, int] = {}
        for name in names:
            self.id(name)

    def __len__(self) -> int:
        return len(self.names)

    def id(self, name: str) -> int:
        found = self.index.get(name)
        if found is None:
            found = self.index[name] = len(self.names)
            self.names.append(name)
        return found

    def ids(self, names: Iterable[str]) -> np.ndarray:
        return np.fromiter((self.id(n) for n in names), dtype=np.int64)

    def name_array(self, ids: np.ndarray) -> np.ndarray:
        return np.asarray(self.names, dtype=object)[ids]


@dataclass
class Encoded:
    """A corpus as CSR arrays of vocabulary ids: fields, and context tokens."""

    corpus: Corpus
    indptr: np.ndarray
    indices: np.ndarray
    tok_indptr: np.ndarray
    tok_indices: np.ndarray
    keys: np.ndarray  # sorted row << 32 | field id, for membership tests

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.indptr)

    def rows_of_entries(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.corpus)), self.sizes)

    def has(self, rows: np.ndarray, fids: np.ndarray) -> np.ndarray:
        return _member(self.keys, rows * ROW_SHIFT + fids)

    def field_matrix(self, width: int) -> sp.csr_matrix:
        data = np.ones(len(self.indices), dtype=np.float32)
        return sp.csr_matrix((data, self.indices, self.indptr), shape=(len(self.corpus), width))

    def token_matrix(self, width: int) -> sp.csr_matrix:
        data = np.ones(len(self.tok_indices), dtype=np.float32)
        return sp.csr_matrix((data, self.tok_indices, self.tok_indptr), shape=(len(self.corpus), width))


def _member(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    if len(sorted_keys) == 0:
        return np.zeros(len(keys), dtype=bool)
    at = np.searchsorted(sorted_keys, keys)
    at = np.minimum(at, len(sorted_keys) - 1)
    return sorted_keys[at] == keys


def _csr(lists: Iterable[Iterable[str]], vocab: Vocab) -> tuple[np.ndarray, np.ndarray]:
    lengths, ids = [], []
    for items in lists:
        row = np.unique(vocab.ids(items))
        lengths.append(len(row))
        ids.append(row)
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    indices = np.concatenate(ids).astype(np.int64) if ids else np.zeros(0, dtype=np.int64)
    return indptr, indices


def encode(corpus: Corpus, vocab: Vocab) -> Encoded:
    indptr, indices = _csr(corpus.fields, vocab)
    tok_indptr, tok_indices = _csr(corpus.configs["context"], vocab)
    rows = np.repeat(np.arange(len(corpus)), np.diff(indptr))
    keys = np.sort(rows * ROW_SHIFT + indices)
    return Encoded(corpus, indptr, indices, tok_indptr, tok_indices, keys)


@dataclass
class PatternStats:
    """Counts of map entries: how many `functions.<name>` entries there are, and how many set `runtime`."""

    parents: frozenset[str]
    parent_id: dict[str, int] = field(default_factory=dict)
    pattern_id: dict[str, int] = field(default_factory=dict)
    n_instances: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per parent
    n_pattern: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per pattern
    pattern_parent: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    pattern_suffix: list[str] = field(default_factory=list)
    own_instances: pd.Series = field(default_factory=pd.Series)  # (local row, parent id) -> entries
    own_pattern: pd.Series = field(default_factory=pd.Series)  # (local row, pattern id) -> entries


@dataclass
class TypeStats:
    name: str
    n: int
    keys: dict[str, int]  # corpus key -> local row
    gids: np.ndarray  # local column -> vocabulary id
    g2l: np.ndarray  # vocabulary id -> local column (-1: not in this type's vocabulary)
    is_token: np.ndarray
    X: np.ndarray  # (n, m) float32 0/1
    sizes: np.ndarray  # fields per config (all of them, also those beyond the vocabulary cap)
    count: np.ndarray  # (m,)
    C: np.ndarray  # (m, m) float32 co-occurrence counts
    env_index: dict[str, int]
    row_env: np.ndarray
    env_n: np.ndarray
    env_count: np.ndarray  # (E, m)
    group_index: dict[str, int]
    row_group: np.ndarray
    group_n: np.ndarray
    group_count: np.ndarray  # (G, m)
    patterns: PatternStats
    children: dict[int, MapChild | None] = field(default_factory=dict)  # vocabulary id -> map entry

    def local(self, gids: np.ndarray) -> np.ndarray:
        out = np.full(len(gids), -1, dtype=np.int64)
        ok = gids < len(self.g2l)
        out[ok] = self.g2l[gids[ok]]
        return out

    def child(self, gid: int, vocab: Vocab) -> MapChild | None:
        if gid not in self.children:
            self.children[gid] = map_child(vocab.names[gid], self.patterns.parents)
        return self.children[gid]


@dataclass
class CorpusStats:
    vocab: Vocab
    encoded: Encoded
    types: dict[str, TypeStats]
    type_rates: sp.csr_matrix  # (types, vocabulary at fit time): share of each type's configs setting a field
    type_names: list[str]
    min_support: int
    min_rule_support: int

    def other_type_rate(self, ctype: str, gids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Highest share of configs of another type that set each field, and which type that is."""
        rates = np.zeros((len(self.type_names), len(gids)), dtype=np.float32)
        ok = gids < self.type_rates.shape[1]
        if ok.any():
            rates[:, ok] = self.type_rates[:, gids[ok]].toarray()
        if ctype in self.types:
            rates[self.type_names.index(ctype)] = -1.0
        best = rates.argmax(axis=0) if len(self.type_names) else np.zeros(len(gids), dtype=np.int64)
        top = rates.max(axis=0) if len(self.type_names) else np.zeros(len(gids))
        return np.maximum(top, 0.0), best


def _pattern_stats(
    local_rows: np.ndarray, gids: np.ndarray, vocab: Vocab, parents: frozenset[str]
) -> PatternStats:
    stats = PatternStats(parents)
    if not parents or len(gids) == 0:
        stats.own_instances = pd.Series(dtype=np.float64)
        stats.own_pattern = pd.Series(dtype=np.float64)
        return stats
    unique = np.unique(gids)
    kids = {int(g): map_child(vocab.names[g], parents) for g in unique}
    keep = np.array([kids[int(g)] is not None for g in gids], dtype=bool)
    rows, ids = local_rows[keep], gids[keep]
    frame = pd.DataFrame(
        {
            "row": rows,
            "parent": [kids[int(g)].parent for g in ids],
            "instance": [kids[int(g)].instance for g in ids],
            "pattern": [kids[int(g)].pattern for g in ids],
            "suffix": [kids[int(g)].suffix for g in ids],
        }
    )
    stats.parent_id = {p: i for i, p in enumerate(sorted(frame["parent"].unique()))}
    pattern_names = sorted(frame["pattern"].unique())
    stats.pattern_id = {p: i for i, p in enumerate(pattern_names)}
    frame["pid"] = frame["parent"].map(stats.parent_id)
    frame["tid"] = frame["pattern"].map(stats.pattern_id)
    instances = frame.drop_duplicates(["row", "instance"])
    stats.n_instances = np.bincount(instances["pid"], minlength=len(stats.parent_id)).astype(np.float64)
    entries = frame.drop_duplicates(["row", "instance", "tid"])
    stats.n_pattern = np.bincount(entries["tid"], minlength=len(pattern_names)).astype(np.float64)
    first = entries.drop_duplicates("tid").sort_values("tid")
    stats.pattern_parent = first["pid"].to_numpy()
    stats.pattern_suffix = first["suffix"].tolist()
    stats.own_instances = instances.groupby(["row", "pid"]).size().astype(np.float64)
    stats.own_pattern = entries.groupby(["row", "tid"]).size().astype(np.float64)
    return stats


def _type_stats(name: str, enc: Encoded, rows: np.ndarray, vocab: Vocab, max_vocabulary: int) -> TypeStats:
    configs = enc.corpus.configs.iloc[rows]
    n = len(rows)
    F = enc.field_matrix(len(vocab))[rows]
    T = enc.token_matrix(len(vocab))[rows]
    field_counts = np.asarray(F.sum(axis=0)).ravel()
    fields = np.flatnonzero(field_counts)
    if len(fields) > max_vocabulary:
        order = np.lexsort((fields, -field_counts[fields]))[:max_vocabulary]
        fields = np.sort(fields[order])
    tokens = np.flatnonzero(np.asarray(T.sum(axis=0)).ravel())
    gids = np.concatenate([fields, tokens]).astype(np.int64)
    g2l = np.full(len(vocab), -1, dtype=np.int64)
    g2l[gids] = np.arange(len(gids))
    X = sp.hstack([F[:, fields], T[:, tokens]]).tocsr().astype(np.float32)
    C = (X.T @ X).toarray().astype(np.float32)
    Xd = X.toarray()
    envs = configs["environment"].to_numpy()
    env_names = sorted(set(envs))
    env_index = {e: i for i, e in enumerate(env_names)}
    row_env = np.array([env_index[e] for e in envs], dtype=np.int64)
    E = sp.csr_matrix((np.ones(n, dtype=np.float32), (row_env, np.arange(n))), shape=(len(env_names), n))
    groups = configs["group"].to_numpy()
    group_names = sorted(set(groups))
    group_index = {g: i for i, g in enumerate(group_names)}
    row_group = np.array([group_index[g] for g in groups], dtype=np.int64)
    G = sp.csr_matrix((np.ones(n, dtype=np.float32), (row_group, np.arange(n))), shape=(len(group_names), n))
    parents = map_parents(vocab.names[g] for g in fields)
    entries = F.tocoo()
    return TypeStats(
        name=name,
        n=n,
        keys={k: i for i, k in enumerate(configs["key"])},
        gids=gids,
        g2l=g2l,
        is_token=np.concatenate([np.zeros(len(fields), dtype=bool), np.ones(len(tokens), dtype=bool)]),
        X=Xd,
        sizes=np.diff(F.indptr).astype(np.float32),
        count=Xd.sum(axis=0),
        C=C,
        env_index=env_index,
        row_env=row_env,
        env_n=np.asarray(E.sum(axis=1)).ravel(),
        env_count=(E @ X).toarray(),
        group_index=group_index,
        row_group=row_group,
        group_n=np.asarray(G.sum(axis=1)).ravel(),
        group_count=(G @ X).toarray(),
        patterns=_pattern_stats(entries.row.astype(np.int64), entries.col.astype(np.int64), vocab, parents),
    )


def fit_stats(
    corpus: Corpus,
    min_support: int = 2,
    min_rule_support: int = 2,
    max_vocabulary: int = 3000,
    vocab: Vocab | None = None,
) -> CorpusStats:
    """Statistics of `corpus` (the evidence every suggestion is read from)."""
    vocab = vocab or Vocab()
    enc = encode(corpus, vocab)
    types = {}
    ctypes = corpus.types
    for name in sorted(set(ctypes)):
        types[name] = _type_stats(name, enc, np.flatnonzero(ctypes == name), vocab, max_vocabulary)
    type_names = sorted(types)
    rows, cols, vals = [], [], []
    for i, name in enumerate(type_names):
        ts = types[name]
        fields = ~ts.is_token
        rows.append(np.full(int(fields.sum()), i))
        cols.append(ts.gids[fields])
        vals.append(ts.count[fields] / max(ts.n, 1))
    rates = sp.csr_matrix(
        (
            np.concatenate(vals) if vals else [],
            (np.concatenate(rows) if rows else [], np.concatenate(cols) if cols else []),
        ),
        shape=(len(type_names), len(vocab)),
    )
    return CorpusStats(vocab, enc, types, rates, type_names, min_support, min_rule_support)
