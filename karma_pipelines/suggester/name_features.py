"""Features of a field name: its depth and parent, near-miss spellings, other types, code evidence."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from karma_pipelines.suggester.code_evidence import CodeEvidence
from karma_pipelines.suggester.feature_arrays import _entries, _lookup
from karma_pipelines.suggester.names import NearNames
from karma_pipelines.suggester.stats import CorpusStats, Encoded, TypeStats
from karma_pipelines.suggester.structure import depth, parent_of

if TYPE_CHECKING:
    from karma_pipelines.suggester.features import Queries


_ANSWERS: list = [None, {}]  # the last code evidence asked about, and its answers per (type, field)


def _code_answers(code: CodeEvidence) -> dict[str, dict[str, tuple[float, float]]]:
    """What the code evidence said of each field already (training, the ranker's choice and the
    suggestions featurize the same names: Terraform's reads are matched once per name)."""
    if _ANSWERS[0] is not code:
        _ANSWERS[:] = [code, {}]
    return _ANSWERS[1]


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
            known = _code_answers(self.code).setdefault(ctype, {})
            for n in names:
                if n not in known:
                    known[n] = (level[self.code.read_kind(ctype, n)], float(self.code.is_required(ctype, n)))
            read = np.array([known[n][0] for n in names], dtype=np.float32)
            required = np.array([known[n][1] for n in names], dtype=np.float32)
            out["code_available"][idx] = 1.0
            out["code_read"][idx] = read[inv]
            out["code_required"][idx] = required[inv]
        else:
            out["code_available"][idx] = 0.0
