"""Jobs, schedules and sensors."""

from pathlib import Path

import dagster as dg

from karma_pipelines.defs.resources import KarmaSourceResource
from karma_pipelines.sources.git import resolve_ref

karma_pipeline_job = dg.define_asset_job(
    "karma_pipeline_job",
    selection=dg.AssetSelection.all(),
    description="Extract, validate, build features and train every model.",
)

karma_daily_schedule = dg.ScheduleDefinition(
    name="karma_daily_schedule",
    job=karma_pipeline_job,
    cron_schedule="0 5 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Re-run the whole pipeline every day at 05:00 UTC (off by default).",
)


@dg.sensor(
    job=karma_pipeline_job,
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
