"""The event log read in chunks: the same rows and re-delivery marks as the whole log read at once, and
through `load_tables` the same validated tables, quarantine and suite results."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from karma_pipelines import parallel
from karma_pipelines.pipeline.tables import load_tables, validated_tables
from karma_pipelines.simulator import SimulationConfig, simulate_world
from karma_pipelines.sources import event_stream
from karma_pipelines.sources.event_log import read_event_log
from karma_pipelines.sources.event_stream import stream_event_log
from karma_pipelines.sources.event_world import EventLogSource
from tests.test_bad_event_records import HORIZON
from tests.test_bad_input_summary import _event_world
from tests.test_event_log import event
from tests.test_event_log import write_world as write_small_world

# Re-deliveries the byte-level key pass must not miss or invent: one key written three ways, a key only
# in `attrs`, a key that is a number, a name given twice (the last one counts), a lone surrogate.
TRICKY = {
    "2026-05-03.jsonl": [
        json.dumps(event("esc-1")),
        json.dumps(event("esc-1")).replace('"esc-1"', '"esc\\u002d1"'),  # the same key, escaped
        json.dumps(event("nested", attrs={"idempotency_key": "esc-1"})),  # "esc-1" is no key here
        json.dumps(event("777")) + "",
        json.dumps(event("777")).replace('"777"', "777"),  # a number: no copy of "777"
        '{"idempotency_key": "first", ' + json.dumps(event("twice"))[1:],  # "twice" counts
        json.dumps(event("sur\\ud800")).replace("\\\\ud800", "\\ud800"),
    ],
    "2026-05-04.jsonl": [
        "\ufeff" + json.dumps(event("esc-1", ts="2026-05-04T09:00:00Z")),  # a conflicting copy, BOM first
        json.dumps(event("twice")),
        json.dumps(event("first")),  # no copy: the other line's "first" was overridden
        json.dumps(event("sur\ufffd")),  # what the lone surrogate is read as: its key
        '{"idempotency_key": "esc-1", "ts": "2026-05-04T10:00:00Z", "event_type": "promo',  # not JSON
    ],
}


def tricky_world(root: Path) -> Path:
    world = write_small_world(root)
    for name, lines in TRICKY.items():
        (world / "events" / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    (world / "events" / "2026-05-05.jsonl").write_bytes(b'{"idempotency_key": "k-1", "x": "\xff"}\n')
    outside = root.parent / f"{root.name}-outside.jsonl"
    outside.write_text(json.dumps(event("k-1")) + "\n")
    os.symlink(outside, world / "events" / "2026-05-06.jsonl")  # not read: its copy of k-1 is no copy
    return world


def chunked(events: Path, **kwargs) -> pd.DataFrame:
    return pd.concat(list(stream_event_log(events, **kwargs)), ignore_index=True)


@pytest.mark.parametrize("chunk_bytes", [1, 10_000, None])
def test_chunks_are_the_log_read_at_once(tmp_path, chunk_bytes):
    events = tricky_world(tmp_path / "world") / "events"
    whole = read_event_log(events)
    pd.testing.assert_frame_equal(chunked(events, chunk_bytes=chunk_bytes), whole)
    marked = whole.set_index("record_id")[["duplicate_of", "conflicts_with"]].dropna(how="all")
    # The cases above are marked (so the equality is not that of two unmarked logs) and no others.
    assert marked["duplicate_of"].dropna().to_dict() == {
        "2026-05-01.jsonl:14": "2026-05-01.jsonl:1",
        "2026-05-02.jsonl:2": "2026-05-01.jsonl:2",
        "2026-05-04.jsonl:2": "2026-05-03.jsonl:6",
    }
    assert marked["conflicts_with"].dropna().to_dict() == {
        "2026-05-03.jsonl:1": "2026-05-03.jsonl:2, 2026-05-04.jsonl:1",
        "2026-05-03.jsonl:2": "2026-05-03.jsonl:1, 2026-05-04.jsonl:1",
        "2026-05-04.jsonl:1": "2026-05-03.jsonl:1, 2026-05-03.jsonl:2",
        "2026-05-03.jsonl:7": "2026-05-04.jsonl:4",  # one key, but the text differs (a surrogate fixed)
        "2026-05-04.jsonl:4": "2026-05-03.jsonl:7",
    }


def test_a_hash_collision_parses_more_lines_and_marks_the_same(tmp_path, monkeypatch):
    events = tricky_world(tmp_path / "world") / "events"
    parsed: list[int] = []  # lines parsed by the marks pass (`only`), per call
    read = event_stream.read_event_file

    def counting(path, shared, only=None):
        if only is not None:
            parsed.append(len(only))
        return read(path, shared, only=only)

    monkeypatch.setattr(event_stream, "read_event_file", counting)
    exact = stream_event_log(events, chunk_bytes=1)
    parsed_exact, parsed[:] = sum(parsed), []
    monkeypatch.setattr(event_stream, "key_hashes", lambda keys: np.zeros(len(keys), dtype=np.uint64))
    chunks = stream_event_log(events, chunk_bytes=1)
    assert sum(parsed) > parsed_exact >= 10  # every keyed line parsed, against only the repeated ones
    pd.testing.assert_frame_equal(chunks.marks, exact.marks)  # only the marked lines are kept
    pd.testing.assert_frame_equal(pd.concat(list(chunks), ignore_index=True), read_event_log(events))


def test_only_days_asked_for_are_read_and_marked(tmp_path):
    events = tricky_world(tmp_path / "world") / "events"
    days = ["2026-05-02", "2026-05-04"]
    pd.testing.assert_frame_equal(chunked(events, days=days), read_event_log(events, days=days))


@pytest.mark.parametrize("workers", [1, 2])
def test_streamed_tables_are_the_tables_of_the_whole_log(tmp_path, monkeypatch, workers):
    """Every bad-input case, through `load_tables` with the lines in chunks of one file (read and
    validated here, or in forked workers) and at once."""
    monkeypatch.setattr(parallel, "default_workers", lambda: workers)
    world, _ = _event_world(tmp_path)
    source = EventLogSource(world)
    whole = validated_tables(
        source.describe(), source.raw_tables(source.read_batches(list(source.batch_keys())), HORIZON), HORIZON
    )
    monkeypatch.setattr(event_stream, "CHUNK_BYTES", 1)
    streamed = load_tables(EventLogSource(world), HORIZON, keep_events=False)
    assert len(stream_event_log(world / "events")) == len(list((world / "events").glob("*.jsonl")))
    assert streamed.event_lines == len(whole.raw_events) > 0
    assert streamed.raw_events.empty and streamed.clean_events.empty
    for name in ("deploy_records", "config_snapshots", "quarantined", "event_results"):
        pd.testing.assert_frame_equal(getattr(streamed, name), getattr(whole, name), obj=name)
    assert (whole.quarantined["table"] == "karma_events").sum() > 20
    assert not whole.event_results["success"].all()


def test_chunks_given_to_a_caller_that_keeps_events_are_the_events(tmp_path):
    world = tricky_world(tmp_path / "world")
    source = EventLogSource(world)
    keys = list(source.batch_keys())
    kept = validated_tables(source.describe(), source.streamed_raw_tables(keys, HORIZON), HORIZON)
    pd.testing.assert_frame_equal(kept.raw_events, read_event_log(world / "events"))
    assert kept.event_lines == len(kept.raw_events)


def test_deploy_tables_built_in_blocks_are_those_built_at_once(tmp_path, monkeypatch):
    from karma_pipelines.records import blocks

    world, _ = _event_world(tmp_path)
    at_once = load_tables(EventLogSource(world), HORIZON, keep_events=False)
    monkeypatch.setattr(blocks.Blocks, "BLOCK", 1)
    in_blocks = load_tables(EventLogSource(world), HORIZON, keep_events=False)
    assert len(at_once.deploy_records) > 2  # more than two blocks
    for name in ("deploy_records", "config_snapshots"):
        pd.testing.assert_frame_equal(getattr(in_blocks, name), getattr(at_once, name), obj=name)


@pytest.mark.parametrize("workers", [2, 3])
def test_deploy_tables_shared_among_workers_are_those_built_here(tmp_path, monkeypatch, workers):
    """Components shared out among forked workers (each building its components' rows, in another
    process: the pids prove it), the rows put back in time order: the tables one process builds."""
    from karma_pipelines.records import from_events

    world = tmp_path / "world"
    simulate_world(world, SimulationConfig(seed=3, components=12, days=30))
    source = EventLogSource(world)
    kept = validated_tables(
        source.describe(), source.streamed_raw_tables(list(source.batch_keys()), HORIZON), HORIZON
    )
    events, end = kept.clean_events, source.describe().end
    here = from_events.deploy_tables_from_events(events, HORIZON, as_of=end, workers=1)
    built_in, rows = tmp_path / "pids", from_events._rows

    def recorded(inputs, messages, spool):
        made = rows(inputs, messages, spool)
        written = sorted(p.name for p in spool.iterdir())  # each block a file, its path sent back
        assert sorted(p.name for part in made for p in part) == written and written
        with built_in.open("a") as out:
            out.write(f"{os.getpid()} {inputs['entity_id'].nunique()} {spool}\n")
        return made

    monkeypatch.setattr(from_events, "_rows", recorded)
    forked = from_events.deploy_tables_from_events(events, HORIZON, as_of=end, workers=workers)
    parts = [line.split() for line in built_in.read_text().splitlines()]
    assert len(parts) == workers and os.getpid() not in {int(pid) for pid, _, _ in parts}
    assert all(int(components) > 0 for _, components, _ in parts)
    spools = {Path(spool) for _, _, spool in parts}
    assert len(spools) == workers and not any(s.parent.exists() for s in spools)  # read, then removed
    assert here[0]["rolled_back"].fillna(False).astype(bool).any()  # labels made across the parts
    for name, a, b in zip(("deploy_records", "config_snapshots"), forked, here, strict=True):
        pd.testing.assert_frame_equal(a, b, obj=name)
