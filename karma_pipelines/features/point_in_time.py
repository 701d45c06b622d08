"""Vectorised time-aware counts: how many events of a key happened strictly before a moment."""

from __future__ import annotations

import numpy as np
import pandas as pd


def count_before(
    query_keys: pd.Series,
    query_times: pd.Series,
    event_keys: pd.Series,
    event_times: pd.Series,
    weights: pd.Series | None = None,
) -> np.ndarray:
    """For each query (key, t): the (weighted) number of events with the same key and time < t.

    One sort of queries and events together, then a cumulative sum per key: no Python loop.
    Events at exactly t are not counted (they were not known *before* t).
    """
    n_q, n_e = len(query_keys), len(event_keys)
    if n_q == 0:
        return np.zeros(0)
    w = np.ones(n_e) if weights is None else np.asarray(weights, dtype="float64")
    frame = pd.DataFrame(
        {
            "key": pd.concat([query_keys, event_keys], ignore_index=True).astype("string"),
            "t": pd.concat([query_times, event_times], ignore_index=True),
            # Queries sort before events at the same instant, so ties are excluded.
            "is_event": np.r_[np.zeros(n_q, dtype=bool), np.ones(n_e, dtype=bool)],
            "w": np.r_[np.zeros(n_q), w],
            "qpos": np.r_[np.arange(n_q), np.full(n_e, -1)],
        }
    )
    frame = frame.sort_values(["key", "t", "is_event"], kind="stable")
    frame["cum"] = frame.groupby("key", sort=False)["w"].cumsum()
    queries = frame[~frame["is_event"]]
    out = np.zeros(n_q)
    out[queries["qpos"].to_numpy()] = queries["cum"].to_numpy()
    return out


def count_in_window(
    keys: pd.Series,
    times: pd.Series,
    event_keys: pd.Series,
    event_times: pd.Series,
    window: pd.Timedelta,
) -> np.ndarray:
    """Events of the same key in [t - window, t)."""
    upto = count_before(keys, times, event_keys, event_times)
    # Events at exactly t - window are inside the window: count those strictly before it.
    before = count_before(keys, times - window, event_keys, event_times)
    return upto - before
