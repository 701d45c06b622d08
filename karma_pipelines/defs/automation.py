"""Jobs, schedules and sensors: the pipeline keeps itself up to date, the same way for every source."""

import json

import dagster as dg

from karma_pipelines.defs.extract import karma_source_batches
from karma_pipelines.defs.resources import KarmaSourceResource

RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"

# Everything but the batches: re-reads what has been ingested so far (retraining, re-gating).
karma_pipeline_job = dg.define_asset_job(
    "karma_pipeline_job",
    selection=dg.AssetSelection.all() - dg.AssetSelection.assets("source_batches"),
    description="Validate, build features, train and promote every model, and the insight assets.",
)

# Batches of the source (a partition range) and everything downstream of them.
karma_ingest_job = dg.define_asset_job(
    "karma_ingest_job",
    selection=dg.AssetSelection.all(),
    partitions_def=karma_source_batches,
    description="Read new or changed source batches (event-log day files, a Git ref's new commit), "
    "then update everything downstream.",
)

# What one new batch updates at once (the sensor's runs, after the first): the batch read, its rows
# validated and appended, their features appended (and checked against a full rebuild), and the new
# deploys scored by the champion. Retraining, the gate, the suggester, insights and graph assets, and
# the audits that rebuild whole tables (suites, point-in-time) are the daily schedule's (README).
UPDATE_ASSETS = [
    dg.AssetKey(k)
    for k in (
        "karma_world",
        "source_batches",
        "source_records",
        "clean_karma_events",
        "deploy_records",
        "config_snapshots",
        "quarantined_records",
        "rollback_features",
        "deploy_risk_scores",
    )
]
UPDATE_CHECKS = [
    dg.AssetCheckKey(dg.AssetKey("rollback_features"), "check_rollback_features_appended"),
    dg.AssetCheckKey(dg.AssetKey("quarantined_records"), "check_quarantine_accounting"),
]
# Scoring needs a champion: until one was materialized, a sensor run updates the whole graph.
NEEDED_FOR_UPDATE = dg.AssetKey("rollback_forecaster_champion")

karma_daily_schedule = dg.ScheduleDefinition(
    name="karma_daily_schedule",
    job=karma_pipeline_job,
    cron_schedule="0 5 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Retrain and re-gate every model daily at 05:00 UTC (off by default).",
)


def range_tags(keys: list[str]) -> dict[str, str]:
    """Tags that make one run cover the partitions from the first to the last of `keys`."""
    return {RANGE_START: keys[0], RANGE_END: keys[-1]}


def new_batches(
    instance: dg.DagsterInstance, now: dict[str, str], seen: dict[str, str]
) -> tuple[list[str], list[str]]:
    """(batch keys not yet partitions, batches new or changed since `seen`, in partition order)."""
    known = instance.get_dynamic_partitions(karma_source_batches.name)
    new = [key for key in now if key not in set(known)]
    touched = [key for key, sig in now.items() if seen.get(key) != sig]
    order = {key: i for i, key in enumerate([*known, *new])}  # a range follows the order of adding
    return new, sorted(touched, key=order.__getitem__)


@dg.sensor(
    job=karma_ingest_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Add a partition for each new batch of the source (an event-log day file, the commit "
    "a Git ref moved to) and ingest new or changed batches in one run: the whole graph until a champion "
    "exists, then the update (the new rows validated, their features appended, the new deploys scored).",
)
def karma_source_sensor(context: dg.SensorEvaluationContext, karma_source: KarmaSourceResource):
    try:
        now = karma_source.source().batch_keys()
    except (FileNotFoundError, ValueError) as exc:
        return dg.SkipReason(f"source not readable yet: {exc}")
    seen = json.loads(context.cursor) if context.cursor else {}
    new, touched = new_batches(context.instance, now, seen)
    if not touched:
        return dg.SkipReason("no new or changed batches")
    update = context.instance.get_latest_materialization_event(NEEDED_FOR_UPDATE) is not None
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"{touched[0]}..{touched[-1]}:{now[touched[-1]]}",
                tags=range_tags(touched),
                asset_selection=UPDATE_ASSETS if update else None,
                asset_check_keys=UPDATE_CHECKS if update else None,
            )
        ],
        dynamic_partitions_requests=[karma_source_batches.build_add_request(new)] if new else [],
        cursor=json.dumps(now),
    )
