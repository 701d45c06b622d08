"""A command's source read down the one path (`load_tables`' steps), with progress on stderr: a bar over
the event-log day files or the chunks of them, and a line per stage."""

from __future__ import annotations

import sys


def read_tables(source, horizon, progress, meanwhile=None, keep_events=True):
    """`load_tables`, with a bar over the batches (event-log day files) and a line per stage;
    `meanwhile`: what to do while the source's raw tables are read (in a worker: `overlap.py`);
    `keep_events` as `validated_tables` has it."""
    from karma_pipelines.apps.overlap import read_while
    from karma_pipelines.pipeline.tables import validated_tables
    from karma_pipelines.sources.base import StreamingSource

    if not keep_events and isinstance(source, StreamingSource):  # the lines a few files at a time
        return _stream_tables(source, horizon, progress, meanwhile)
    with progress.stage("reading the source"):
        world = source.describe()
        keys = list(source.batch_keys())
        batches: dict = {}
        chunks = [keys[i : i + 10] for i in range(0, len(keys), 10)]
        for chunk in progress.track(chunks, f"reading {len(keys):,} batch(es)", total=len(chunks)):
            batches.update(source.read_batches(chunk))
        if meanwhile is None:
            raw = source.raw_tables(batches, horizon)
        else:
            raw = read_while(source, batches, horizon, meanwhile)
        batches.clear()  # in `raw` now: the day files' tables are not kept twice through validation
    if len(raw.events):
        progress.note(f"read {len(raw.events):,} event lines from {len(keys):,} file(s)")
    else:
        progress.note(f"read {raw.commits or 0:,} commits")
    with progress.stage("validating (Great Expectations suites) and labelling deploys"):
        tables = validated_tables(world, raw, horizon, keep_events)
    progress.note(_validated(tables))
    return tables


def _stream_tables(source, horizon, progress, meanwhile=None):
    """`read_tables` of a source that streams its events, in a child process (`in_child`: its heap,
    fragmented by millions of decoded lines, is not kept) while `meanwhile` runs here: re-deliveries
    found across the whole log, then the lines read, validated and reduced to deploy inputs a chunk of
    files at a time, the deploy tables built and validated."""
    from karma_pipelines.apps.overlap import in_child
    from karma_pipelines.pipeline.tables import validated_tables

    world = source.describe()
    keys = list(source.batch_keys())

    def work():
        with progress.stage("finding re-delivered events (idempotency keys of every line)"):
            raw = source.streamed_raw_tables(keys, horizon)
        total = len(raw.event_chunks)

        def track(outcomes):
            return progress.track(outcomes, f"reading {len(keys):,} file(s)", total=total)

        with progress.stage("reading and validating (Great Expectations suites), labelling deploys"):
            return validated_tables(world, raw, horizon, keep_events=False, track=track)

    tables = in_child(work, warm=meanwhile)
    progress.note(f"read {tables.event_lines:,} event lines from {len(keys):,} file(s); {_validated(tables)}")
    return tables


def _validated(tables) -> str:
    return (
        f"validated: {len(tables.quarantined):,} quarantined, {len(tables.deploy_records):,} deploys, "
        f"{len(tables.config_snapshots):,} config snapshots"
    )


def coverage_report(source, command: str) -> dict | None:
    """What the layouts cover of a Git history (None for another source); a warning on stderr when
    they leave out files that look like config."""
    coverage = getattr(source, "coverage", None)
    if coverage is None:
        return None
    warning = coverage.warning()
    if warning:
        print(f"karma-pipelines {command}: warning: {warning}", file=sys.stderr)
    return coverage.report()
