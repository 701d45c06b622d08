"""Jobs, schedules and sensors: the pipeline keeps itself up to date."""

import json
from pathlib import Path

import dagster as dg

from karma_pipelines.defs.extract import karma_event_days
from karma_pipelines.defs.resources import KarmaSourceResource
from karma_pipelines.sources.git import resolve_ref

RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def pipeline_job(with_event_files: bool):
    """Everything but the day files: reads what has been ingested so far (retraining; a Git source)."""
    selection = dg.AssetSelection.all()
    if with_event_files:
        selection = selection - dg.AssetSelection.assets("karma_event_files")
    return dg.define_asset_job(
        "karma_pipeline_job",
        selection=selection,
        description="Validate, build features, train and promote every model, and the insight assets.",
    )


# Day files of the event log (a partition range) and everything downstream of them.
karma_ingest_job = dg.define_asset_job(
    "karma_ingest_job",
    selection=dg.AssetSelection.all(),
    partitions_def=karma_event_days,
    description="Read new or changed event-log day files, then update everything downstream.",
)


def daily_schedule(job) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name="karma_daily_schedule",
        job=job,
        cron_schedule="0 5 * * *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description="Retrain and re-gate every model daily at 05:00 UTC (off by default).",
    )


def range_tags(days: list[str]) -> dict[str, str]:
    """Tags that make one run cover the partitions from the first to the last of `days`."""
    return {RANGE_START: days[0], RANGE_END: days[-1]}


def _file_signatures(events_dir: Path) -> dict[str, str]:
    return {
        p.stem: f"{p.stat().st_size}:{p.stat().st_mtime_ns}"
        for p in sorted(events_dir.glob("*.jsonl"))
        if p.is_file()
    }


@dg.sensor(
    job=karma_ingest_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="For an event-log source: add a partition for each new day file and ingest new or "
    "changed files (one run over their range), updating everything downstream.",
)
def karma_event_files_sensor(context: dg.SensorEvaluationContext, karma_source: KarmaSourceResource):
    if karma_source.kind not in ("simulator", "events"):
        return dg.SkipReason(f"source is {karma_source.kind!r}, not an event log")
    events_dir = Path(karma_source.path) / "events"
    if not events_dir.is_dir():
        return dg.SkipReason(f"no event log at {events_dir} yet")
    seen = json.loads(context.cursor) if context.cursor else {}
    now = _file_signatures(events_dir)
    known = set(context.instance.get_dynamic_partitions(karma_event_days.name))
    new = [day for day in now if day not in known]
    touched = sorted(day for day, sig in now.items() if seen.get(day) != sig)
    if not touched:
        return dg.SkipReason("no new or changed event files")
    order = list(known) + new  # a range follows the order in which partitions were added
    ordered = sorted(touched, key=order.index)
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(run_key=f"{ordered[0]}..{ordered[-1]}:{now[ordered[-1]]}", tags=range_tags(ordered))
        ],
        dynamic_partitions_requests=[karma_event_days.build_add_request(new)] if new else [],
        cursor=json.dumps(now),
    )


@dg.sensor(
    job_name="karma_pipeline_job",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="For a Git source: run the pipeline when the watched ref moves to a new commit.",
)
def git_commits_sensor(context: dg.SensorEvaluationContext, karma_source: KarmaSourceResource):
    if karma_source.kind != "git":
        return dg.SkipReason(f"source is {karma_source.kind!r}, not git")
    head = resolve_ref(Path(karma_source.path), karma_source.ref)
    if head == context.cursor:
        return dg.SkipReason(f"no new commit since {head[:12]}")
    context.update_cursor(head)
    return dg.RunRequest(run_key=head, tags={"karma/commit": head})
