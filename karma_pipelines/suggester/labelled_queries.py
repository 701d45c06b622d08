"""The suggester's labelled queries: the rows it is trained and measured on, with their features.

Training rows: every field a config sets, scored from the rest of the config (positives; fields no
other config sets are left out, nothing could vouch for them), absent candidate fields (negatives),
and injected fields of other component types and misspelt names of present fields (negatives).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from karma_pipelines.suggester.candidates import candidate_queries, present_queries
from karma_pipelines.suggester.code_evidence import CodeEvidence
from karma_pipelines.suggester.corpus import Corpus
from karma_pipelines.suggester.corruption import Corruption
from karma_pipelines.suggester.features import Queries, featurize
from karma_pipelines.suggester.names import misspell, recombine
from karma_pipelines.suggester.spec import SuggesterSpec
from karma_pipelines.suggester.stats import ROW_SHIFT, CorpusStats, Encoded, _member, fit_stats


@dataclass
class QueryFrame:
    """Scored-to-be queries with their features: `frame` holds row, key, component_type, field,
    present, label (1 = the config sets it), kind (present, absent, foreign, typo) and FEATURES."""

    frame: pd.DataFrame

    def __len__(self) -> int:
        return len(self.frame)


def fit_corpus_stats(corpus: Corpus, spec: SuggesterSpec) -> CorpusStats:
    return fit_stats(corpus, spec.min_support, spec.min_rule_support, spec.max_vocabulary)


def _frame(
    stats: CorpusStats,
    qenc: Encoded,
    q: Queries,
    kind: np.ndarray,
    code,
    spec,
    is_set: np.ndarray | None = None,
) -> pd.DataFrame:
    """Features of queries. `is_set` (default: the config sets the field) is the question asked: 0 =
    "should this absent field be here?" (missing), 1 = "does this field that is here belong?" (unused)."""
    features = featurize(stats, qenc, q, code, spec.neighbours)
    configs = qenc.corpus.configs
    head = pd.DataFrame(
        {
            "row": q.row,
            "key": configs["key"].to_numpy()[q.row],
            "component_type": configs["component_type"].to_numpy()[q.row],
            "field": np.asarray(stats.vocab.names, dtype=object)[q.fid],
            "present": q.present,
            "label": q.present.astype(np.int64),
            "kind": kind,
        }
    )
    frame = pd.concat([head, features], axis=1)
    frame["is_set"] = (q.present if is_set is None else is_set).astype(np.float32)
    return frame


def injected_queries(
    stats: CorpusStats,
    qenc: Encoded,
    rows: np.ndarray,
    n_foreign: int,
    n_typos: int,
    rng: np.random.Generator,
    min_other_support: int = 2,
    n_new: int = 0,
) -> tuple[Queries, np.ndarray]:
    """Fields a row does not set and its type never sets: fields of other types (`foreign`),
    misspelt names of fields it sets (`typo`) and names made of parts of known names (`new`).
    Returned as absent queries: the evidence is the rest of the config, as for a field it sets."""
    configs = qenc.corpus.configs
    types = configs["component_type"].to_numpy()
    all_fields = sorted({n for n in stats.vocab.names if not n.startswith("@")})
    out_rows, out_names, out_kind = [], [], []
    for ctype in sorted(set(types[rows])):
        mine = rows[types[rows] == ctype]
        ts = stats.types.get(ctype)
        own = set() if ts is None else {stats.vocab.names[g] for g in ts.gids}
        pool = sorted(
            {
                stats.vocab.names[g]
                for other, ots in stats.types.items()
                if other != ctype
                for g in ots.gids[(~ots.is_token) & (ots.count >= min_other_support)]
            }
            - own
        )
        if pool and n_foreign:
            picks = rng.integers(len(pool), size=(len(mine), n_foreign))
            out_rows.append(np.repeat(mine, n_foreign))
            out_names += [pool[i] for i in picks.ravel()]
            out_kind += ["foreign"] * picks.size
        if n_new and all_fields:
            for row in np.repeat(mine, n_new):
                name = recombine(rng, all_fields)
                if name and name not in own:
                    out_rows.append(np.array([row]))
                    out_names.append(name)
                    out_kind.append("new")
        if n_typos:
            for row in mine:
                fields = [stats.vocab.names[g] for g in qenc.indices[qenc.indptr[row] : qenc.indptr[row + 1]]]
                fields = [f for f in fields if len(f.rpartition(".")[2]) >= 4]
                if not fields:
                    continue
                for i in rng.choice(len(fields), size=min(n_typos, len(fields)), replace=False):
                    typo = misspell(rng, fields[int(i)])
                    if typo not in own:
                        out_rows.append(np.array([row]))
                        out_names.append(typo)
                        out_kind.append("typo")
    if not out_names:
        return Queries(
            np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
        ), np.array([])
    row_arr = np.concatenate(out_rows).astype(np.int64)
    fid = stats.vocab.ids(out_names)
    keep = ~qenc.has(row_arr, fid)
    q = Queries(row_arr[keep], fid[keep], np.zeros(int(keep.sum()), dtype=bool))
    return q, np.asarray(out_kind, dtype=object)[keep]


def _pairs(stats: CorpusStats, pairs: frozenset[tuple[int, str]]) -> np.ndarray:
    if not pairs:
        return np.zeros(0, dtype=np.int64)
    rows = np.fromiter((r for r, _ in pairs), dtype=np.int64, count=len(pairs))
    return np.unique(rows * ROW_SHIFT + stats.vocab.ids(name for _, name in pairs))


def query_frame(
    stats: CorpusStats,
    qenc: Encoded,
    rows: np.ndarray,
    spec: SuggesterSpec,
    code: CodeEvidence | None,
    rng: np.random.Generator,
    negatives: int | None = None,
    corruption: Corruption | None = None,
) -> QueryFrame:
    """Labelled queries for `rows`, both questions:

    - missing (is_set 0): each field a config sets, hidden (1); sampled absent candidates (0);
    - unused (is_set 1): each field a config sets (1); injected foreign, misspelt and new names (0).

    With a `corruption` of the corpus, the fields it removed are absent candidates labelled 1 and
    the fields it added are set fields labelled 0.
    """
    rows = np.sort(np.asarray(rows, dtype=np.int64))
    removed = _pairs(stats, corruption.removed) if corruption else np.zeros(0, dtype=np.int64)
    added = _pairs(stats, corruption.added) if corruption else np.zeros(0, dtype=np.int64)
    present = present_queries(qenc)
    present = present.take(np.flatnonzero(np.isin(present.row, rows)))
    absent = candidate_queries(stats, qenc, code)
    absent = absent.take(np.flatnonzero(np.isin(absent.row, rows)))
    was_removed = _member(removed, absent.row * ROW_SHIFT + absent.fid)
    cap = spec.negatives_per_config if negatives is None else negatives
    if cap and len(absent):
        noise = rng.random(len(absent)) + ~was_removed  # removed fields first: never sampled away
        order = np.lexsort((noise, absent.row))
        absent, was_removed = absent.take(order), was_removed[order]
        first = np.searchsorted(absent.row, absent.row, side="left")
        keep = np.flatnonzero((np.arange(len(absent)) - first < cap) | was_removed)
        absent, was_removed = absent.take(keep), was_removed[keep]
    injected, kinds = injected_queries(
        stats,
        qenc,
        rows,
        spec.foreign_per_config,
        spec.typos_per_config,
        rng,
        n_new=spec.new_names_per_config,
    )
    was_added = _member(added, present.row * ROW_SHIFT + present.fid)
    q = Queries.concat([present, absent, injected])
    kind = np.concatenate(
        [
            np.where(was_added, "twin_added", "present").astype(object),
            np.where(was_removed, "twin_removed", "absent").astype(object),
            kinds,
        ]
    )
    n_p, n_a = len(present), len(absent)
    is_set = np.concatenate([np.zeros(n_p + n_a), np.ones(len(injected))])
    frame = _frame(stats, qenc, q, kind, code, spec, is_set)
    frame["label"] = np.concatenate([~was_added, was_removed, np.zeros(len(injected), dtype=bool)]).astype(
        np.int64
    )
    as_set = frame.iloc[:n_p].assign(is_set=np.float32(1.0))  # the same fields, asked the other question
    return QueryFrame(pd.concat([frame, as_set], ignore_index=True))


def trainable(frame: pd.DataFrame) -> pd.Series:
    """Rows to learn from: a present field counts only if some other config vouches for it."""
    vouched = (frame["type_support"] > 0) | (frame["pattern_rate"] > 0) | (frame["twin_rate"] > 0)
    return ~(frame["present"] & (frame["label"] == 1)) | vouched
