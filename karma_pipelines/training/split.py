"""Time-ordered splits: train on the past, test on the future, with a gap of one label horizon."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class TimeSplit:
    train: pd.DataFrame
    test: pd.DataFrame
    split_at: pd.Timestamp  # first instant of the test period
    train_end: pd.Timestamp  # training rows are strictly before this (split_at - gap)


def time_split(
    frame: pd.DataFrame,
    time_column: str,
    test_fraction: float,
    gap: pd.Timedelta,
    split_at: pd.Timestamp | None = None,
) -> TimeSplit:
    """Split by time. Default `split_at`: the last `test_fraction` of the time span is the test period.

    Rows in [split_at - gap, split_at) are in neither side: their labels could reveal the test period.
    A frame in time order is split into two slices of it (views, not copies: copy-on-write).
    """
    times = frame[time_column]
    if frame.empty:
        raise ValueError("cannot split an empty table")
    if split_at is None:
        start, end = times.min(), times.max()
        split_at = start + (end - start) * (1.0 - test_fraction)
    train_end = split_at - gap
    if times.is_monotonic_increasing:
        train = frame.iloc[: times.searchsorted(train_end, side="left")]
        test = frame.iloc[times.searchsorted(split_at, side="left") :]
    else:
        train = frame[times < train_end]
        test = frame[times >= split_at]
    return TimeSplit(train=train, test=test, split_at=split_at, train_end=train_end)


def validation_tail(
    train: pd.DataFrame, time_column: str, fraction: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(fit, valid): the latest `fraction` of training rows (by time), held out for early stopping; two
    slices of `train` when it is in time order already (views: no sorted copy of it)."""
    times = train[time_column]
    ordered = train if times.is_monotonic_increasing else train.sort_values(time_column, kind="stable")
    cut = int(len(ordered) * (1.0 - fraction))
    return ordered.iloc[:cut], ordered.iloc[cut:]
