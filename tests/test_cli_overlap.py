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
