"""`fork_map`: work spread over forked workers comes back in order, errors and all, without running far
ahead of its caller; an event log's chunks worked on that way are the chunks read here."""

from __future__ import annotations

import os
import threading
import time

import pandas as pd
import pytest

from karma_pipelines import parallel
from karma_pipelines.apps.overlap import in_child
from karma_pipelines.parallel import fork_map
from karma_pipelines.sources.event_stream import stream_event_log
from tests.test_event_stream import tricky_world


def test_results_come_in_order_from_forked_workers():
    here = os.getpid()
    results = list(fork_map(lambda i: (i * i, os.getpid()), 12, workers=2))
    assert [square for square, _ in results] == [i * i for i in range(12)]
    pids = {pid for _, pid in results}
    assert here not in pids and 1 <= len(pids) <= 2


def test_one_worker_or_one_piece_runs_here():
    assert list(fork_map(lambda i: os.getpid(), 3, workers=1)) == [os.getpid()] * 3
    assert list(fork_map(lambda i: os.getpid(), 1, workers=2)) == [os.getpid()]
    assert list(fork_map(lambda i: i, 0, workers=2)) == []


def test_an_error_in_a_worker_is_raised_here_after_the_results_before_it():
    def work(i):
        if i == 3:
            raise ValueError(f"record {i}: field 'ts' is not a timestamp")
        return i

    taken = []
    with pytest.raises(ValueError, match="record 3: field 'ts'"):
        for result in fork_map(work, 8, workers=2):
            taken.append(result)
    assert taken == [0, 1, 2]


def test_workers_do_not_run_far_ahead_of_the_caller(tmp_path):
    def work(i):
        (tmp_path / str(i)).touch()
        return i

    results = fork_map(work, 20, workers=2)
    assert next(results) == 0
    time.sleep(1.0)  # time enough for unbounded workers to do all twenty
    started = len(list(tmp_path.iterdir()))
    assert started <= 2 * 2 + 1  # two per worker ahead, and the one taken made room for one more
    assert list(results) == list(range(1, 20))
    assert len(list(tmp_path.iterdir())) == 20


def test_chunks_worked_on_in_workers_are_the_chunks_read_here(tmp_path):
    chunks = stream_event_log(tricky_world(tmp_path / "world") / "events", chunk_bytes=1)
    summary = lambda table: (os.getpid(), table)  # noqa: E731
    forked = list(chunks.map(summary, workers=2))
    here = list(chunks.map(summary, workers=1))
    assert {pid for pid, _ in here} == {os.getpid()} and os.getpid() not in {pid for pid, _ in forked}
    assert len(forked) == len(list(chunks)) > 3  # one table per non-empty file
    for (_, a), (_, b), c in zip(forked, here, chunks, strict=True):
        pd.testing.assert_frame_equal(a, b)
        pd.testing.assert_frame_equal(a, c)


def test_a_process_with_threads_of_its_own_works_alone_unless_it_allows_forks():
    def with_a_thread():
        done = threading.Event()
        thread = threading.Thread(target=done.wait, daemon=True)  # as a progress line's heartbeat
        thread.start()
        try:
            return parallel.default_workers(), threading.active_count() > 1
        finally:
            done.set()
            thread.join()

    assert with_a_thread() == (1, True)  # here: a test process, its threads unknown
    # The child a command reads its source in allows them: its threads write progress lines only.
    assert in_child(with_a_thread) == (parallel.cpus(), True)
    # So does a command in its own process while it runs (backtest), and only while it runs.
    with parallel.forks_allowed():
        assert with_a_thread() == (parallel.cpus(), True)
    assert with_a_thread() == (1, True)


def test_deploy_inputs_sent_back_by_workers_are_those_of_the_whole_log_read_here(tmp_path, monkeypatch):
    """Each chunk's deploy inputs, made in a worker, are the deploy inputs of the whole log validated
    here; a config deployed again within a chunk is one object there."""
    from karma_pipelines.contracts.schema import KARMA_EVENTS
    from karma_pipelines.pipeline import tables
    from karma_pipelines.records.from_events import deploy_inputs
    from karma_pipelines.simulator import SimulationConfig, simulate_world
    from karma_pipelines.sources.event_log import read_event_log
    from karma_pipelines.sources.event_world import EventLogSource
    from karma_pipelines.validation import validate_table

    monkeypatch.setattr(parallel, "default_workers", lambda: 2)
    world = tmp_path / "world"
    simulate_world(world, SimulationConfig(seed=3, components=12, days=30))
    described = EventLogSource(world).describe()
    chunks = stream_event_log(world / "events", chunk_bytes=1 << 14)  # a few day files a chunk
    assert len(chunks) > 3
    inputs = tables._validated_chunks(chunks, described)[0]
    events = validate_table(read_event_log(world / "events"), KARMA_EVENTS, described.suite_parameters())
    expected = deploy_inputs(events.clean)
    pd.testing.assert_frame_equal(inputs.reset_index(drop=True), expected.reset_index(drop=True))
    configs = [c for c in expected["config"] if c is not None]
    assert all(type(c) is bytes for c in configs) and len(set(configs)) < len(configs)
    assert len({id(c) for c in configs}) == len(set(configs))  # one object for equal configs, here
