"""Vectorised helpers of the featurizers: padded id rows, masked row statistics, top-k, pair lookups."""

from __future__ import annotations

import numpy as np
import pandas as pd

from karma_pipelines.suggester.stats import Encoded


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
