"""Which absent fields to consider for a config: fields that enough configs of its type set, the
missing entries of its own user-named maps (`functions.export.*` as other functions have them),
fields its twins in other environments set, and fields its type's Terraform reads. The candidates of a
subtree the config lacks altogether are one suggestion, at the subtree's root (`subtree_groups`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from karma_pipelines.suggester.code_evidence import CodeEvidence
from karma_pipelines.suggester.feature_arrays import _entries
from karma_pipelines.suggester.features import Queries, stats_rows
from karma_pipelines.suggester.stats import ROW_SHIFT, CorpusStats, Encoded, TypeStats, _member


def _cross(rows: np.ndarray, fids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.repeat(rows, len(fids)), np.tile(fids, len(rows))


def _ids(stats: CorpusStats, names: np.ndarray) -> np.ndarray:
    uniq, inv = np.unique(names.astype(str), return_inverse=True)
    return stats.vocab.ids(uniq)[inv] if len(uniq) else np.zeros(0, dtype=np.int64)


def _pattern_candidates(
    stats: CorpusStats, ts: TypeStats, entries: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    pat = ts.patterns
    if not pat.parents or entries.empty or not len(pat.n_pattern):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    uniq, inv = np.unique(entries["fid"].to_numpy(), return_inverse=True)
    kids = [ts.child(int(g), stats.vocab) for g in uniq]
    frame = pd.DataFrame(
        {
            "row": entries["row"].to_numpy(),
            "instance": np.array([k.instance if k else None for k in kids], dtype=object)[inv],
            "pid": np.array([pat.parent_id.get(k.parent, -1) if k else -1 for k in kids], dtype=np.int64)[
                inv
            ],
        }
    )
    frame = frame[frame["pid"] >= 0].drop_duplicates(["row", "instance"])
    common = np.flatnonzero(pat.n_pattern >= stats.min_support)
    patterns = pd.DataFrame(
        {"pid": pat.pattern_parent[common], "suffix": np.array(pat.pattern_suffix, dtype=object)[common]}
    )
    pairs = frame.merge(patterns, on="pid")
    if pairs.empty:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    names = (pairs["instance"] + "." + pairs["suffix"]).to_numpy()
    return pairs["row"].to_numpy(dtype=np.int64), _ids(stats, names)


def _code_candidates(
    stats: CorpusStats, code: CodeEvidence, ctype: str, rows: np.ndarray, entries: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    reads = sorted({r.path for r in code.types[ctype].reads if r.path})
    concrete = [p for p in reads if "*" not in p]
    first_rows, first_ids = _cross(rows, stats.vocab.ids(concrete))
    out_rows, out_ids = [first_rows], [first_ids]
    starred = [p for p in reads if p.count("*") == 1 and not p.endswith("*")]
    if starred and not entries.empty:
        uniq, inv = np.unique(entries["fid"].to_numpy(), return_inverse=True)
        names = np.array([stats.vocab.names[g] for g in uniq], dtype=object)
        for pattern in starred:
            head, _, tail = pattern.partition(".*.")
            prefix = head + "."
            under = np.array([n.startswith(prefix) and "." in n[len(prefix) :] for n in names], dtype=bool)
            if not under.any():
                continue
            keys = np.array(
                [n[len(prefix) :].partition(".")[0] if u else "" for n, u in zip(names, under, strict=True)]
            )
            hit = under[inv]
            pairs = pd.DataFrame(
                {"row": entries["row"].to_numpy()[hit], "key": keys[inv][hit]}
            ).drop_duplicates()
            out_rows.append(pairs["row"].to_numpy(dtype=np.int64))
            out_ids.append(_ids(stats, (prefix + pairs["key"] + "." + tail).to_numpy()))
    return np.concatenate(out_rows), np.concatenate(out_ids)


def _interior(stats: CorpusStats, entries: pd.DataFrame) -> np.ndarray:
    """Sorted keys (row << 32 | id) of every proper prefix of the fields a row sets."""
    if entries.empty:
        return np.zeros(0, dtype=np.int64)
    uniq, inv = np.unique(entries["fid"].to_numpy(), return_inverse=True)
    prefixes = []
    for g in uniq:
        parts = stats.vocab.names[g].split(".")
        prefixes.append(stats.vocab.ids(".".join(parts[:i]) for i in range(1, len(parts))))
    counts = np.array([len(p) for p in prefixes], dtype=np.int64)
    flat = np.concatenate(prefixes) if prefixes else np.zeros(0, dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)])[:-1]
    n = counts[inv]
    rows = np.repeat(entries["row"].to_numpy(), n)
    within = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
    ids = flat[np.repeat(starts[inv], n) + within]
    return np.unique(rows * ROW_SHIFT + ids)


def candidate_queries(stats: CorpusStats, qenc: Encoded, code: CodeEvidence | None = None) -> Queries:
    """Absent candidate fields of every row of the query corpus (present=False), deduplicated."""
    configs = qenc.corpus.configs
    types = configs["component_type"].to_numpy()
    srow = stats_rows(stats, qenc)
    rows_out, ids_out = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
    for ctype in sorted(set(types)):
        rows = np.flatnonzero(types == ctype)
        entries = _entries(qenc, rows)
        ts = stats.types.get(ctype)
        if ts is not None:
            n_fields = int((~ts.is_token).sum())
            support = ts.count[:n_fields]
            frequent = ts.gids[:n_fields][support >= stats.min_support]
            r, f = _cross(rows, frequent)
            rows_out.append(r)
            ids_out.append(f)
            r, f = _pattern_candidates(stats, ts, entries)
            rows_out.append(r)
            ids_out.append(f)
            group = configs["group"].iloc[rows].map(ts.group_index).fillna(-1).to_numpy(dtype=np.int64)
            own = srow[rows]
            counts = np.where(group[:, None] >= 0, ts.group_count[np.maximum(group, 0), :n_fields], 0.0)
            mine = (own >= 0) & (ts.row_group[np.maximum(own, 0)] == group)
            counts -= np.where(mine[:, None], ts.X[np.maximum(own, 0), :n_fields], 0.0)
            which, col = np.nonzero(counts > 0)
            rows_out.append(rows[which])
            ids_out.append(ts.gids[col])
        if code is not None and code.has(ctype):
            r, f = _code_candidates(stats, code, ctype, rows, entries)
            rows_out.append(r)
            ids_out.append(f)
    rows_all, ids_all = np.concatenate(rows_out), np.concatenate(ids_out)
    keys = np.unique(rows_all * ROW_SHIFT + ids_all)
    rows_all, ids_all = keys // ROW_SHIFT, keys % ROW_SHIFT
    keep = ~qenc.has(rows_all, ids_all)
    interior = _interior(stats, _entries(qenc, np.arange(len(configs))))
    if len(interior):
        at = np.minimum(np.searchsorted(interior, keys), len(interior) - 1)
        keep &= interior[at] != keys
    is_token = np.fromiter((n.startswith("@") for n in stats.vocab.names), dtype=bool, count=len(stats.vocab))
    keep &= ~is_token[ids_all]
    return Queries(rows_all[keep], ids_all[keep], np.zeros(int(keep.sum()), dtype=bool))


def present_queries(qenc: Encoded) -> Queries:
    """Every field every row sets (present=True)."""
    rows = qenc.rows_of_entries()
    return Queries(rows.astype(np.int64), qenc.indices.astype(np.int64), np.ones(len(rows), dtype=bool))


def missing_roots(stats: CorpusStats, qenc: Encoded, rows: np.ndarray, fids: np.ndarray) -> np.ndarray:
    """For each absent (row, field): the id of the root of the subtree the row misses it in, the
    shortest prefix of the field's path that the config neither sets nor has anything under
    (`metrics` for `metrics.serviceMonitor.enabled` when the config has no `metrics.*`); the field
    itself when its parent is there."""
    rows, fids = np.asarray(rows, dtype=np.int64), np.asarray(fids, dtype=np.int64)
    roots = fids.copy()
    if not len(fids):
        return roots
    have = np.union1d(_interior(stats, _entries(qenc, np.unique(rows))), qenc.keys)
    uniq, inv = np.unique(fids, return_inverse=True)
    prefixes = []
    for g in uniq:
        parts = stats.vocab.names[g].split(".")
        prefixes.append(stats.vocab.ids(".".join(parts[:i]) for i in range(1, len(parts))))
    width = max((len(p) for p in prefixes), default=0)
    table = np.full((len(uniq), width), -1, dtype=np.int64)
    for i, p in enumerate(prefixes):
        table[i, : len(p)] = p
    settled = np.zeros(len(fids), dtype=bool)
    for depth in range(width):
        prefix = table[inv, depth]
        open_ = ~settled & (prefix >= 0)
        if not open_.any():
            break
        there = _member(have, rows * ROW_SHIFT + np.maximum(prefix, 0))
        hit = open_ & ~there
        roots[hit] = prefix[hit]
        settled |= hit | (prefix < 0)
    return roots


def subtree_groups(
    stats: CorpusStats, qenc: Encoded, rows: np.ndarray, fids: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The suggestion each absent (row, field) is part of: its missing subtree's root when the row has
    two or more candidates under that root (suggested once, there), else the field itself; and how
    many candidate leaves that suggestion stands for."""
    roots = missing_roots(stats, qenc, rows, fids)
    keys = np.asarray(rows, dtype=np.int64) * ROW_SHIFT + roots
    _, inv, counts = np.unique(keys, return_inverse=True, return_counts=True)
    size = counts[inv]
    return np.where(size >= 2, roots, fids), np.where(size >= 2, size, 1)
