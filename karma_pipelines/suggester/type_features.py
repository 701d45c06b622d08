"""Features read from the statistics of the query's component type: rates, association rules,
nearest neighbours, and the patterns of user-named map entries (one type's queries at a time)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from karma_pipelines.suggester.feature_arrays import _entries, _lookup, _masked_stats, _padded, _top_k
from karma_pipelines.suggester.stats import CorpusStats, Encoded, TypeStats

if TYPE_CHECKING:
    from karma_pipelines.suggester.features import Queries

CHUNK = 20000
BLOCK = 20_000  # (context field, query) pairs of one config from which it gets a dense block of its own
BLOCK_CELLS = 1 << 22  # cells of such a block computed at once (memory stays flat in the config's size)
STRONG = 0.9


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
        """Rules s -> f from the config's other fields s. Configs with many (context field, query)
        pairs: one dense block of confidences each (`_association_blocks`); the others in vectorised
        chunks (`_association_chunks`)."""
        if not len(r):
            return
        qenc = self.qenc
        rows, inv, n_queries = np.unique(r, return_inverse=True, return_counts=True)
        width = (qenc.indptr[rows + 1] - qenc.indptr[rows]) + (
            qenc.tok_indptr[rows + 1] - qenc.tok_indptr[rows]
        )
        big = (n_queries * width >= BLOCK)[inv]
        for part, method in ((big, self._association_blocks), (~big, self._association_chunks)):
            if part.any():
                at = np.flatnonzero(part)
                method(r[at], lf[at], y_f[at], out, idx[at])

    def _association_blocks(self, r, lf, y_f, out, idx) -> None:
        ts, qenc = self.ts, self.qenc
        order = np.argsort(r, kind="stable")
        rows, first = np.unique(r[order], return_index=True)
        last = np.append(first[1:], len(order))
        results = {
            k: np.full(len(r), np.nan) for k in ("max", "mean", "min", "support", "ctx_max", "ctx_min")
        }
        strong_all = np.zeros(len(r))
        why = np.full(len(r), -1, dtype=np.int64)
        for i, row in enumerate(rows):
            sl = order[first[i] : last[i]]
            ctx = np.concatenate(
                [qenc.indices[qenc.indptr[row] : qenc.indptr[row + 1]],
                 qenc.tok_indices[qenc.tok_indptr[row] : qenc.tok_indptr[row + 1]]]
            )  # fmt: skip
            loc = ts.local(ctx)
            S = loc[loc >= 0]
            if not len(S):
                continue
            me = self.srow_all[row]
            Y = ts.X[me, S] if me >= 0 else np.zeros(len(S), dtype=np.float32)
            # A few million (context field, query) cells at a time: a config of thousands of fields
            # would otherwise hold its whole square, several arrays of it, at once.
            step = max(1, BLOCK_CELLS // len(S))
            for start in range(0, len(sl), step):
                self._block(S, Y, sl[start : start + step], lf, y_f, results, strong_all, why)
        out["assoc_max"][idx] = results["max"]
        out["assoc_mean"][idx] = results["mean"]
        out["assoc_min"][idx] = results["min"]
        out["assoc_strong"][idx] = strong_all
        out["assoc_max_support"][idx] = results["support"]
        out["why_rule_from"][idx] = why
        out["ctx_assoc_max"][idx] = results["ctx_max"]
        out["ctx_assoc_min"][idx] = results["ctx_min"]

    def _block(self, S, Y, sl, lf, y_f, results, strong_all, why) -> None:
        """The rules S -> f for the queries `sl` of one config (context fields S, in it or not: Y)."""
        ts, minimum = self.ts, self.stats.min_rule_support
        col = lf[sl]
        F = np.maximum(col, 0)
        yf = y_f[sl].astype(np.float32)
        num = np.where(col >= 0, ts.C[np.ix_(S, F)], 0.0) - Y[:, None] * yf[None, :]
        den = ts.count[S] - Y
        valid = (den >= minimum)[:, None] & (S[:, None] != col[None, :])
        conf = num / np.maximum(den, 1.0)[:, None]
        token = ts.is_token[S]
        for part, (kmax, kmin) in ((~token, ("max", "min")), (token, ("ctx_max", "ctx_min"))):
            if not part.any():
                continue
            c, v = conf[part], valid[part]
            n_valid = v.sum(axis=0)
            has = n_valid > 0
            hi = np.where(v, c, -np.inf)
            arg = hi.argmax(axis=0)
            results[kmax][sl] = np.where(has, hi[arg, np.arange(len(sl))], np.nan)
            results[kmin][sl] = np.where(has, np.where(v, c, np.inf).min(axis=0), np.nan)
            if kmax == "max":
                with np.errstate(invalid="ignore", divide="ignore"):
                    results["mean"][sl] = np.where(has, np.where(v, c, 0.0).sum(axis=0) / n_valid, np.nan)
                strong_all[sl] = ((c >= STRONG) & v).sum(axis=0)
                results["support"][sl] = np.where(has, den[part][arg], np.nan)
                why[sl] = np.where(has, ts.gids[S[part][arg]], -1)

    def _association_chunks(self, r, lf, y_f, out, idx) -> None:
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
