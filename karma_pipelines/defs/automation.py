"""Jobs and schedules."""


import dagster as dg

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
