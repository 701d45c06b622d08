"""The CLI reads a source in a worker process while it loads its libraries (apps/overlap.py): the
worker's tables, the source's coverage and its errors all come back as if read here."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from karma_pipelines.apps import overlap
from karma_pipelines.sources.base import RawTables


class _Source:
    coverage = None

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    def raw_tables(self, batches: dict, horizon: pd.Timedelta) -> RawTables:
        if self.fail:
            raise ValueError(f"{sorted(batches)[0]}: no commit to read")
        self.coverage = {"pid": os.getpid(), "horizon": horizon}
        frame = pd.DataFrame({"deploy_id": list(batches)})
        return RawTables(
            deploy_records=frame, config_snapshots=frame, quarantined=frame, commits=len(batches)
        )


@pytest.mark.skipif(overlap.cpus() < 2, reason="one CPU: the source is read in this process")
def test_the_source_is_read_in_a_worker_while_this_process_warms_up():
    source, warmed = _Source(), []
    raw = overlap.read_while(source, {"a": "1", "b": "2"}, pd.Timedelta("7d"), lambda: warmed.append(1))
    assert warmed == [1] and raw.commits == 2 and raw.deploy_records["deploy_id"].tolist() == ["a", "b"]
    assert source.coverage["pid"] != os.getpid() and source.coverage["horizon"] == pd.Timedelta("7d")
    with pytest.raises(ValueError, match="^a: no commit to read$"):
        overlap.read_while(_Source(fail=True), {"a": "1"}, pd.Timedelta("1d"), lambda: None)


def test_batches_already_read_are_combined_here():
    """An event log's day files are tables read already: combined in this process, not sent away."""
    source, warmed = _Source(), []
    batches = {"2026-01-05": pd.DataFrame({"x": [1]}), "2026-01-06": pd.DataFrame({"x": [2]})}
    raw = overlap.read_while(source, batches, pd.Timedelta("7d"), lambda: warmed.append(1))
    assert warmed == [1] and raw.commits == 2 and source.coverage["pid"] == os.getpid()


def test_work_in_a_child_hands_back_its_result_and_its_error():
    """`in_child`: the result of work done in a forked child (its pid proves it), `warm` run here."""
    warmed = []
    pid, frame = overlap.in_child(lambda: (os.getpid(), pd.DataFrame({"x": ["a", None]}, dtype="string")),
                                  warm=lambda: warmed.append(os.getpid()))  # fmt: skip
    assert pid != os.getpid() and warmed == [os.getpid()]
    pd.testing.assert_frame_equal(frame, pd.DataFrame({"x": ["a", None]}, dtype="string"))

    def fails():
        raise ValueError("2026-01-05.jsonl: not an event file")

    with pytest.raises(ValueError, match="^2026-01-05.jsonl: not an event file$"):
        overlap.in_child(fails)


def test_a_child_that_dies_is_an_error_naming_its_exit_code():
    with pytest.raises(RuntimeError, match="exit code 3 and no result"):
        overlap.in_child(lambda: os._exit(3))


def test_the_streamed_backtest_reads_in_a_child_and_gives_the_tables(tmp_path):
    """`read_tables` of an event log for a command that keeps no events: the tables are those of the
    whole log read here, and `meanwhile` ran in this process."""
    from karma_pipelines.apps.progress import Progress
    from karma_pipelines.apps.reading import read_tables
    from karma_pipelines.pipeline.tables import load_tables
    from karma_pipelines.sources.event_world import EventLogSource
    from tests.test_event_stream import tricky_world

    world, ran = tricky_world(tmp_path / "world"), []
    horizon = pd.Timedelta("7d")
    streamed = read_tables(EventLogSource(world), horizon, Progress(on=False), lambda: ran.append(1), False)
    whole = load_tables(EventLogSource(world), horizon)
    assert ran == [1] and streamed.event_lines == len(whole.raw_events) > 0
    for name in ("deploy_records", "config_snapshots", "quarantined", "event_results"):
        pd.testing.assert_frame_equal(getattr(streamed, name), getattr(whole, name), obj=name)
