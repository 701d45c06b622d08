"""Work spread over this machine's CPUs by forked processes: `cpus`, `default_workers`, `fork_map`.

A backtest of a large event log is a long run of independent pieces (a chunk of files read, validated
and reduced to the few columns the deploy tables read; one file's idempotency keys hashed), each pure
Python and so bound to one CPU by the interpreter lock. `fork_map` runs them in forked workers, one per
CPU, and hands their results back in order. A fork inherits the work (a closure, with whatever it holds:
tables, open configuration), so only the piece's number goes out and only its result comes back.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

_WORK: list[Callable[[int], object]] = []  # the work of each live pool, inherited by its workers


def cpus() -> int:
    """The CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


_ALLOWED = [False]  # set in a process whose other threads are its own progress lines (`allow_forks`)


def allow_forks() -> None:
    """Declare this process one whose threads besides the main one only write progress lines to stderr
    (the child a CLI command reads a source in): `default_workers` forks here whatever they are doing,
    and each worker writes to stdio of its own, so a stderr lock a progress thread held is not its."""
    _ALLOWED[0] = True


@contextmanager
def forks_allowed() -> Iterator[None]:
    """`allow_forks` for the time of a `with` block: a CLI command's own process, whose other threads
    are its progress lines while the command runs and which may run other work after it (a test)."""
    before, _ALLOWED[0] = _ALLOWED[0], True
    try:
        yield
    finally:
        _ALLOWED[0] = before


def default_workers() -> int:
    """One worker per CPU in a process of one thread, or one that `allow_forks`; one, so all runs here,
    in a process with more (a Dagster run, a server): a fork copies only the thread that forks, and a
    lock another thread held then stays held in the child for good."""
    return cpus() if _ALLOWED[0] or threading.active_count() == 1 else 1


def fork_map(
    work: Callable[[int], T],
    count: int,
    workers: int | None = None,
    forked: Callable[[], None] | None = None,
) -> Iterator[T]:
    """`work(0)`, …, `work(count - 1)`, in that order. With more than one worker (default:
    `default_workers()`, never more than `count`) each runs in a forked process and its result is
    pickled back; the results come as they are ready, in order, while the next few are being made (no
    more than two per worker ahead of the caller, so results not yet taken do not pile up here). An
    error in a worker is raised here as it was raised there (a worker that dies: `BrokenProcessPool`).
    `forked`: called once every worker is forked, before any result comes (what only the workers read
    can be let go here then); not called when the work is done here."""
    workers = min(default_workers() if workers is None else workers, count)
    if workers < 2:
        yield from (work(i) for i in range(count))
        return
    _WORK.append(work)
    slot = len(_WORK) - 1
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_own_stdio) as pool:
            ahead = 2 * workers
            pending = deque(pool.submit(_call, slot, i) for i in range(min(ahead, count)))  # forks here
            if forked is not None:
                forked()
            following = len(pending)
            while pending:
                result = pending.popleft().result()
                if following < count:
                    pending.append(pool.submit(_call, slot, following))
                    following += 1
                yield result
                del result
    finally:
        _WORK.pop()


def _call(slot: int, i: int) -> object:
    return _WORK[slot](i)


def _own_stdio() -> None:
    """A worker's stdout and stderr: the same files, through buffers (and locks) of its own."""
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 (for the life of the worker)
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
