"""Features of a query (config, field): evidence that the field belongs in the config, given the rest
of it (every other field, never the field itself), read from `CorpusStats`.

Queries are scored in bulk, one component type at a time, with dense numpy gathers: no Python loop
runs per (config, field) pair; the few loops left run per distinct field name of a type.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from karma_pipelines.suggester.code_evidence import CodeEvidence
from karma_pipelines.suggester.names import NearNames
from karma_pipelines.suggester.stats import CorpusStats, Encoded, TypeStats
from karma_pipelines.suggester.structure import depth, parent_of

FEATURES = (
    "type_rate", "type_support", "type_env_rate", "n_type", "n_context",
    "assoc_max", "assoc_max_support", "assoc_mean", "assoc_min", "assoc_strong", "ctx_assoc_max",
    "ctx_assoc_min",
    "knn_rate", "knn_top_sim", "nn_has", "twin_rate", "n_twins",
    "depth", "is_map_child", "pattern_rate", "instance_in_context", "sibling_instance_rate",
    "parent_in_context",
    "near_common_field", "typo_of_present", "other_type_rate",
    "code_available", "code_read", "code_required",
)  # fmt: skip
# The question asked of a query (0: should it be set? 1: does the set field belong?), set per query.
INPUTS = (*FEATURES, "is_set")
# Not model features: what the reasons of a suggestion name.
EXPLAIN = ("why_rule_from", "why_near", "why_other_type")
CHUNK = 20000
STRONG = 0.9


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


def _padded(indptr: np.ndarray, indices: np.ndarray, rows: np.ndarray, tok_indptr, tok_indices) -> np.ndarray:
    """Field and token ids of `rows`, one row each, padded with -1."""
    f_len = indptr[rows + 1] - indptr[rows]
    t_len = tok_indptr[rows + 1] - tok_indptr[rows]
    lengths = f_len + t_len
    width = int(lengths.max()) if len(rows) else 0
    out = np.full((len(rows), max(width, 1)), -1, dtype=np.int64)
    for starts, lens, source, offset in (
        (indptr[rows], f_len, indices, np.zeros(len(rows), dtype=np.int64)),
        (tok_indptr[rows], t_len, tok_indices, f_len),
    ):
        total = int(lens.sum())
        if not total:
            continue
        which = np.repeat(np.arange(len(rows)), lens)
        within = np.arange(total) - np.repeat(np.cumsum(lens) - lens, lens)
        out[which, offset[which] + within] = source[np.repeat(starts, lens) + within]
    return out


def _masked_stats(values: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, ...]:
    """Row-wise max, argmax, mean, min and count over the masked entries (NaN where none)."""
    count = mask.sum(axis=1)
    high = np.where(mask, values, -np.inf)
    arg = high.argmax(axis=1)
    top = high[np.arange(len(values)), arg]
    low = np.where(mask, values, np.inf).min(axis=1)
    total = np.where(mask, values, 0.0).sum(axis=1)
    none = count == 0
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
    return (
        np.where(none, np.nan, top),
        arg,
        np.where(none, np.nan, mean),
        np.where(none, np.nan, low),
        count,
    )


class _TypeFeaturizer:
    def __init__(self, stats: CorpusStats, ts: TypeStats, qenc: Encoded, srow_all: np.ndarray, k: int):
        self.stats, self.ts, self.qenc, self.k = stats, ts, qenc, k
        self.srow_all = srow_all
        self.n_fields_local = int((~ts.is_token).sum())
        self.Xf = ts.X[:, : self.n_fields_local]

    def run(self, q: Queries, out: dict[str, np.ndarray], idx: np.ndarray) -> None:
        ts, qenc = self.ts, self.qenc
        r, f, pres = q.row, q.fid, q.present.astype(np.float32)
        srow = self.srow_all[r]
        in_stats = srow >= 0
        lf = ts.local(f)
        lf[lf >= self.n_fields_local] = -1  # a token is never a candidate field
        known = lf >= 0
        safe_lf, safe_srow = np.maximum(lf, 0), np.maximum(srow, 0)
        y_f = np.where(in_stats & known, ts.X[safe_srow, safe_lf], 0.0)
        support = np.where(known, ts.count[safe_lf], 0.0) - y_f
        n_type = ts.n - in_stats
        with np.errstate(invalid="ignore", divide="ignore"):
            out["type_rate"][idx] = np.where(n_type > 0, support / n_type, np.nan)
        out["type_support"][idx] = support
        out["n_type"][idx] = n_type
        configs = qenc.corpus.configs
        env = configs["environment"].map(ts.env_index).fillna(-1).to_numpy(dtype=np.int64)[r]
        same_env = in_stats & (ts.row_env[safe_srow] == env)
        env_n = np.where(env >= 0, ts.env_n[np.maximum(env, 0)], 0.0) - same_env
        env_count = (
            np.where((env >= 0) & known, ts.env_count[np.maximum(env, 0), safe_lf], 0.0) - y_f * same_env
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            out["type_env_rate"][idx] = np.where(env_n > 0, env_count / env_n, np.nan)
        group = configs["group"].map(ts.group_index).fillna(-1).to_numpy(dtype=np.int64)[r]
        same_group = in_stats & (ts.row_group[safe_srow] == group)
        group_n = np.where(group >= 0, ts.group_n[np.maximum(group, 0)], 0.0) - same_group
        twin = (
            np.where((group >= 0) & known, ts.group_count[np.maximum(group, 0), safe_lf], 0.0)
            - y_f * same_group
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            out["twin_rate"][idx] = np.where(group_n > 0, twin / group_n, np.nan)
        out["n_twins"][idx] = group_n
        out["n_context"][idx] = qenc.sizes[r] - pres
        self._association(r, lf, y_f, srow, out, idx)
        self._neighbours(r, lf, pres, srow, out, idx)
        self._patterns(r, f, pres, srow, out, idx)

    def _association(self, r, lf, y_f, srow, out, idx) -> None:
        ts, qenc = self.ts, self.qenc
        rows, pos = np.unique(r, return_inverse=True)
        ctx = _padded(qenc.indptr, qenc.indices, rows, qenc.tok_indptr, qenc.tok_indices)
        local = np.where(ctx >= 0, ts.local(np.maximum(ctx, 0).ravel()).reshape(ctx.shape), -1)
        s_rows = self.srow_all[rows]
        safe = np.maximum(local, 0)
        in_row = np.where(
            (local >= 0) & (s_rows[:, None] >= 0), ts.X[np.maximum(s_rows, 0)[:, None], safe], 0.0
        )
        minimum = self.stats.min_rule_support
        for start in range(0, len(r), CHUNK):
            sl = slice(start, start + CHUNK)
            L, Y = local[pos[sl]], in_row[pos[sl]]
            col = lf[sl]
            Ls = np.maximum(L, 0)
            num = np.where(col[:, None] >= 0, ts.C[Ls, np.maximum(col, 0)[:, None]], 0.0) - Y * y_f[sl, None]
            den = ts.count[Ls] - Y
            valid = (L >= 0) & (den >= minimum) & (col[:, None] != L)
            with np.errstate(invalid="ignore", divide="ignore"):
                conf = num / np.maximum(den, 1.0)
            token = ts.is_token[Ls]
            top, arg, mean, low, _ = _masked_stats(conf, valid & ~token)
            strong = ((conf >= STRONG) & valid & ~token).sum(axis=1)
            at = idx[sl]
            out["assoc_max"][at] = top
            out["assoc_mean"][at] = mean
            out["assoc_min"][at] = low
            out["assoc_strong"][at] = strong
            best = np.arange(len(L)), arg
            out["assoc_max_support"][at] = np.where(np.isnan(top), np.nan, den[best])
            out["why_rule_from"][at] = np.where(np.isnan(top), -1, ts.gids[Ls[best]])
            ctop, _, _, clow, _ = _masked_stats(conf, valid & token)
            out["ctx_assoc_max"][at] = ctop
            out["ctx_assoc_min"][at] = clow

    def _neighbours(self, r, lf, pres, srow, out, idx) -> None:
        ts, qenc, Xf = self.ts, self.qenc, self.Xf
        n = ts.n
        rows, pos = np.unique(r, return_inverse=True)
        if n == 0:
            return
        ctx_ptr, ctx_idx = qenc.indptr, qenc.indices
        lens = ctx_ptr[rows + 1] - ctx_ptr[rows]
        which = np.repeat(np.arange(len(rows)), lens)
        ids = ctx_idx[
            np.repeat(ctx_ptr[rows], lens)
            + (np.arange(int(lens.sum())) - np.repeat(np.cumsum(lens) - lens, lens))
        ]
        loc = ts.local(ids)
        ok = (loc >= 0) & (loc < self.n_fields_local)
        Q = np.zeros((len(rows), self.n_fields_local), dtype=np.float32)
        Q[which[ok], loc[ok]] = 1.0
        G = Q @ Xf.T  # (rows, n) shared fields
        size_q = qenc.sizes[rows].astype(np.float32)
        self_row = self.srow_all[rows]
        k = min(self.k, n)
        absent = pres == 0
        # Absent fields: the neighbours of the config as it is.
        with np.errstate(invalid="ignore", divide="ignore"):
            J = G / np.maximum(size_q[:, None] + ts.sizes[None, :] - G, 1.0)
        has_self = self_row >= 0
        J[np.flatnonzero(has_self), self_row[has_self]] = -1.0
        nbr, w = _top_k(J, k)
        a = np.flatnonzero(absent)
        self._rates(nbr[pos[a]], w[pos[a]], lf[a], out, idx[a])
        # Present fields: the neighbours of the config without the field.
        p = np.flatnonzero(~absent)
        for start in range(0, len(p), CHUNK):
            sel = p[start : start + CHUNK]
            col = lf[sel]
            column = np.where(col[:, None] >= 0, Xf[:, np.maximum(col, 0)].T, 0.0)
            Gq = G[pos[sel]] - column
            sq = size_q[pos[sel]] - 1.0
            with np.errstate(invalid="ignore", divide="ignore"):
                Jq = Gq / np.maximum(sq[:, None] + ts.sizes[None, :] - Gq, 1.0)
            me = self_row[pos[sel]]
            mine = me >= 0
            Jq[np.flatnonzero(mine), me[mine]] = -1.0
            nb, wq = _top_k(Jq, k)
            self._rates(nb, wq, col, out, idx[sel])

    def _rates(self, nbr, w, lf, out, at) -> None:
        if w.shape[1] == 0:
            return
        has = np.where(lf[:, None] >= 0, self.Xf[nbr, np.maximum(lf, 0)[:, None]], 0.0)
        weight = np.maximum(w, 0.0)
        total = weight.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out["knn_rate"][at] = np.where(total > 0, (weight * has).sum(axis=1) / total, np.nan)
        out["knn_top_sim"][at] = np.maximum(w[:, 0], 0.0)
        out["nn_has"][at] = np.where(w[:, 0] > 0, has[:, 0], np.nan)

    def _patterns(self, r, f, pres, srow, out, idx) -> None:
        ts, qenc, vocab = self.ts, self.qenc, self.stats.vocab
        pat = ts.patterns
        if not pat.parents:
            out["is_map_child"][idx] = 0.0
            return
        uniq, inv = np.unique(f, return_inverse=True)
        kids = [ts.child(int(g), vocab) for g in uniq]
        is_child = np.array([k is not None for k in kids], dtype=bool)[inv]
        out["is_map_child"][idx] = is_child.astype(np.float32)
        if not is_child.any():
            return
        pid_u = np.array([pat.parent_id.get(k.parent, -1) if k else -1 for k in kids], dtype=np.int64)
        tid_u = np.array([pat.pattern_id.get(k.pattern, -1) if k else -1 for k in kids], dtype=np.int64)
        inst_u = np.array([k.instance if k else "" for k in kids], dtype=object)
        pid, tid, inst = pid_u[inv], tid_u[inv], inst_u[inv]
        # The statistics, minus the config's own entries.
        own_inst = _lookup(pat.own_instances, srow, pid)
        own_pat = _lookup(pat.own_pattern, srow, tid)
        n_inst = np.where(pid >= 0, pat.n_instances[np.maximum(pid, 0)] if len(pat.n_instances) else 0.0, 0.0)
        n_pat = np.where(tid >= 0, pat.n_pattern[np.maximum(tid, 0)] if len(pat.n_pattern) else 0.0, 0.0)
        denom = n_inst - own_inst
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = np.where(is_child & (denom > 0), (n_pat - own_pat) / denom, np.nan)
        out["pattern_rate"][idx] = rate
        # The config's own entries.
        rows = np.unique(r)
        entries = _entries(qenc, rows)
        e_uniq, e_inv = np.unique(entries["fid"].to_numpy(), return_inverse=True)
        e_kids = [ts.child(int(g), vocab) for g in e_uniq]
        entries["instance"] = np.array([k.instance if k else None for k in e_kids], dtype=object)[e_inv]
        entries["pid"] = np.array(
            [pat.parent_id.get(k.parent, -1) if k else -1 for k in e_kids], dtype=np.int64
        )[e_inv]
        entries["tid"] = np.array(
            [pat.pattern_id.get(k.pattern, -1) if k else -1 for k in e_kids], dtype=np.int64
        )[e_inv]
        entries = entries[entries["instance"].notna()]
        per_instance = entries.groupby(["row", "instance"]).size()
        per_parent = entries.drop_duplicates(["row", "instance"]).groupby(["row", "pid"]).size()
        per_pattern = entries.drop_duplicates(["row", "instance", "tid"]).groupby(["row", "tid"]).size()
        m_inst = _lookup(per_instance.astype(np.float64), r, inst)
        q_inst = _lookup(per_parent.astype(np.float64), r, pid)
        q_pat = _lookup(per_pattern.astype(np.float64), r, tid)
        out["instance_in_context"][idx] = np.where(is_child, (m_inst - pres) > 0, np.nan)
        others = q_inst - (m_inst > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            out["sibling_instance_rate"][idx] = np.where(
                is_child & (others > 0), (q_pat - pres) / others, np.nan
            )


def _entries(qenc: Encoded, rows: np.ndarray) -> pd.DataFrame:
    lens = qenc.indptr[rows + 1] - qenc.indptr[rows]
    starts = np.repeat(qenc.indptr[rows], lens)
    within = np.arange(int(lens.sum())) - np.repeat(np.cumsum(lens) - lens, lens)
    return pd.DataFrame({"row": np.repeat(rows, lens), "fid": qenc.indices[starts + within]})


def _lookup(series: pd.Series, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """series[(a, b)] with 0 for missing pairs (vectorised)."""
    if series is None or len(series) == 0:
        return np.zeros(len(a))
    index = pd.MultiIndex.from_arrays([a, b])
    return series.reindex(index).fillna(0.0).to_numpy(dtype=np.float64)


def _top_k(J: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of the k largest entries per row, largest first."""
    if k <= 0 or J.shape[1] == 0:
        return np.zeros((len(J), 0), dtype=np.int64), np.zeros((len(J), 0))
    if k < J.shape[1]:
        part = np.argpartition(-J, k - 1, axis=1)[:, :k]
    else:
        part = np.tile(np.arange(J.shape[1]), (len(J), 1))
    vals = np.take_along_axis(J, part, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(vals, order, axis=1)


class _NameEvidence:
    """Per (type, field name): near-miss spelling of a common field, other types, code, shape."""

    def __init__(self, stats: CorpusStats, code: CodeEvidence | None):
        self.stats, self.code = stats, code
        self.near_index: dict[str, NearNames] = {}
        self.parent_ids: dict[int, int] = {}

    def near(self, ts: TypeStats, gid: int, support: float) -> int:
        common_at = max(self.stats.min_support, 0.1 * ts.n)
        if ts.name not in self.near_index:
            fields = ~ts.is_token & (ts.count >= common_at)
            self.near_index[ts.name] = NearNames(self.stats.vocab.names[g] for g in ts.gids[fields])
        if support >= common_at:
            return -1
        hit = self.near_index[ts.name].nearest(self.stats.vocab.names[gid])
        if hit is None:
            return -1
        near_id = self.stats.vocab.index[hit]
        near_support = ts.count[ts.g2l[near_id]]
        return near_id if support < 0.5 * near_support else -1

    def fill(
        self, ctype: str, q: Queries, qenc: Encoded, out: dict[str, np.ndarray], idx: np.ndarray
    ) -> None:
        stats, vocab = self.stats, self.stats.vocab
        ts = stats.types.get(ctype)
        uniq, inv = np.unique(q.fid, return_inverse=True)
        names = [vocab.names[g] for g in uniq]
        out["depth"][idx] = np.array([depth(n) for n in names], dtype=np.float32)[inv]
        parents = [parent_of(n) for n in names]
        parent_gid = np.array([vocab.id(p) if p else -1 for p in parents], dtype=np.int64)[inv]
        # Another field of the config under the same parent?
        rows = np.unique(q.row)
        entries = _entries(qenc, rows)
        e_uniq, e_inv = np.unique(entries["fid"].to_numpy(), return_inverse=True)
        e_parent = np.array(
            [vocab.id(p) if (p := parent_of(vocab.names[g])) else -1 for g in e_uniq], dtype=np.int64
        )
        entries["parent"] = e_parent[e_inv]
        counts = entries.groupby(["row", "parent"]).size().astype(np.float64)
        same_parent = _lookup(counts, q.row, parent_gid) - q.present
        out["parent_in_context"][idx] = np.where(parent_gid < 0, 1.0, (same_parent > 0).astype(np.float32))
        other, which = stats.other_type_rate(ctype, uniq)
        out["other_type_rate"][idx] = other[inv]
        out["why_other_type"][idx] = np.where(other[inv] > 0, which[inv], -1)
        if ts is not None:
            local = ts.local(uniq)
            support = np.where(local >= 0, ts.count[np.maximum(local, 0)], 0.0)
            near = np.array(
                [self.near(ts, int(g), s) for g, s in zip(uniq, support, strict=True)], dtype=np.int64
            )
        else:
            near = np.full(len(uniq), -1, dtype=np.int64)
        near_q = near[inv]
        out["near_common_field"][idx] = (near_q >= 0).astype(np.float32)
        out["why_near"][idx] = near_q
        typo = np.zeros(len(q), dtype=np.float32)
        hit = near_q >= 0
        if hit.any():
            typo[hit] = qenc.has(q.row[hit], near_q[hit]).astype(np.float32)
        out["typo_of_present"][idx] = typo
        if self.code is not None and self.code.has(ctype):
            level = {"exact": 1.0, "covered": 0.5, None: 0.0}
            read = np.array([level[self.code.read_kind(ctype, n)] for n in names], dtype=np.float32)
            required = np.array([self.code.is_required(ctype, n) for n in names], dtype=np.float32)
            out["code_available"][idx] = 1.0
            out["code_read"][idx] = read[inv]
            out["code_required"][idx] = required[inv]
        else:
            out["code_available"][idx] = 0.0


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
    frame = pd.DataFrame(out)
    frame[list(FEATURES)] = frame[list(FEATURES)].astype(np.float32)
    return frame
