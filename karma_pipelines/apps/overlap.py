"""A command's source read in a worker process while this one loads what the later stages need.

A cold `backtest` spends about 9 s importing LightGBM, scikit-learn, MLflow and Great Expectations and
2 s creating a new MLflow store, and about as long again reading a Git history; neither needs the
other. With more than one CPU, `read_while` forks a worker (before those imports: it is small) that
reads the source's raw tables, and runs `warm` here meanwhile. The worker returns the tables and the
source's coverage (what the layouts left out, set by `raw_tables`); an error in it is raised here as
it was raised there. With one CPU it all runs here, in order.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import tempfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

import pandas as pd

from karma_pipelines.parallel import allow_forks, cpus
from karma_pipelines.sources.base import RawTables

T = TypeVar("T")


def _read(source, batches: dict, horizon: pd.Timedelta) -> tuple[RawTables, object]:
    raw = source.raw_tables(batches, horizon)
    return raw, getattr(source, "coverage", None)


def read_while(source, batches: dict, horizon: pd.Timedelta, warm: Callable[[], None]) -> RawTables:
    """`source.raw_tables(batches, horizon)`, with `warm()` run meanwhile (in order on one CPU, or when
    the batches are tables already read: an event log's day files. Combining them is quick, and sending
    them to a worker and the result back would pickle every event twice: a fifth of a backtest's time
    and two more copies of the events in memory, measured on a 20k-deploy world)."""
    if cpus() < 2 or any(isinstance(batch, pd.DataFrame) for batch in batches.values()):
        raw = source.raw_tables(batches, horizon)
        warm()
        return raw
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork")) as pool:
        future = pool.submit(_read, source, batches, horizon)
        warm()
        raw, coverage = future.result()
    if hasattr(source, "coverage"):
        source.coverage = coverage
    return raw


def in_child(work: Callable[[], T], warm: Callable[[], None] | None = None) -> T:
    """`work()` in a forked child, its result handed back through a temporary file; `warm()` runs here
    meanwhile. For work that builds millions of short-lived Python objects to leave a few compact tables
    (an event log read into deploy tables): its heap, which CPython does not give back to the system
    once fragmented, ends with the child, and this process holds only the result. The child may fork
    workers of its own (`parallel.allow_forks`: its other threads are progress lines). An error in the
    child is raised here as it was raised there."""
    with tempfile.NamedTemporaryFile(prefix="karma-child-", suffix=".pickle") as handoff:
        child = multiprocessing.get_context("fork").Process(target=_run_child, args=(work, handoff.name))
        child.start()
        try:
            if warm is not None:
                warm()
        finally:
            child.join()
        with open(handoff.name, "rb") as result:
            failed, value = pickle.load(result) if os.path.getsize(handoff.name) else (True, None)
    if failed:
        if isinstance(value, BaseException):
            raise value
        raise RuntimeError(f"the worker process ended with exit code {child.exitcode} and no result")
    return value


def _run_child(work: Callable[[], object], path: str) -> None:
    allow_forks()  # its only other threads will be the progress lines `work` starts
    try:
        outcome = (False, work())
    except BaseException as exc:  # handed to the parent, which raises it
        outcome = (True, exc)
    try:
        with open(path, "wb") as out:
            pickle.dump(outcome, out, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # an error that does not pickle: its text does
        with open(path, "wb") as out:
            pickle.dump((True, RuntimeError(f"in the worker process: {exc!r} ({outcome[1]!r})")), out)
