"""Run the whole pipeline on the persistent Dagster instance (its summary: `defs.summary`)."""

from pathlib import Path

import dagster as dg

from karma_pipelines.defs.automation import range_tags
from karma_pipelines.defs.extract import karma_source_batches
from karma_pipelines.defs.origin import execute_in_location
from karma_pipelines.defs.resources import KarmaSourceResource, MlflowResource
from karma_pipelines.defs.summary import SUMMARY_ASSETS, check_reason, error_reason, summarize
from karma_pipelines.sources.git.layout import DEFAULT_LAYOUT
from karma_pipelines.sources.open import parse_source_spec
from karma_pipelines.tracking.liveness import (
    DAGSTER_RUNNER_TAG,
    close_abandoned_mlflow_runs,
    runner_gone,
    runner_token,
)


def parse_source(
    spec: str, home: Path, layout: str = DEFAULT_LAYOUT, ref: str | None = None
) -> KarmaSourceResource:
    """`simulator` (default world under <home>/world), `events:/path/to/world` or `git:/path/to/repo`."""
    kind, path = parse_source_spec(spec, home)
    return KarmaSourceResource(
        kind=kind, path=path, layout=layout, ref=ref, state_dir=str(home / "git_state")
    )


def execute_all(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    source: KarmaSourceResource,
    run_config: dict | None = None,
    raise_on_error: bool = True,
    asset_selection: list[dg.AssetKey] | None = None,
    run_id: str | None = None,
) -> dg.ExecuteInProcessResult:
    """Materialize every asset of `defs` (or `asset_selection`) in one run, in this process: every batch
    of the source (event-log day files, the Git ref's commit) is registered as a partition and the ingest
    job covers them all. The run belongs to the UI's code location (`defs.origin`), so the Dagster UI's
    Overview timeline and run lists show it."""
    reader = source.source()
    reader.describe()  # a simulated world is written here on first use, so its batches are known
    keys = list(reader.batch_keys())
    known = set(instance.get_dynamic_partitions(karma_source_batches.name))
    instance.add_dynamic_partitions(karma_source_batches.name, [k for k in keys if k not in known])
    partitions = instance.get_dynamic_partitions(karma_source_batches.name)
    job, tags = defs.resolve_job_def("karma_ingest_job"), range_tags(partitions)
    fail_abandoned_runs(instance)
    tags = {**tags, DAGSTER_RUNNER_TAG: runner_token()}
    return execute_in_location(
        job,
        instance,
        run_config=run_config,
        tags=tags,
        raise_on_error=raise_on_error,
        asset_selection=asset_selection,
        run_id=run_id,
    )


def fail_abandoned_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed every run of this instance still STARTING/STARTED whose process is gone (a killed
    `run`): it can never finish. Returns their run ids."""
    statuses = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
    failed = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=statuses)):
        token = run.tags.get(DAGSTER_RUNNER_TAG)
        if runner_gone(token):
            instance.report_run_failed(
                run, f"its process ({token}) ended mid-run: marked failed by a later run"
            )
            failed.append(run.run_id)
    return failed


def run_pipeline(source: KarmaSourceResource, home: Path, progress=None) -> dict:
    """Materialize every asset (checks included) with the DAGSTER_HOME instance; return a summary of
    THIS run (its own events, never an earlier run's materializations) and of the registry after it."""
    from dagster._core.utils import make_new_run_id

    from karma_pipelines.definitions import build_definitions

    defs = build_definitions(source=source, mlflow_store=MlflowResource(home=str(home)))
    instance = dg.DagsterInstance.get()
    # Progress lines replace Dagster's console log (failures are named in the summary, with the
    # traceback in the Dagster UI).
    quiet = progress is not None and progress.on
    logs = {"loggers": {"console": {"config": {"log_level": "CRITICAL" if quiet else "INFO"}}}}
    run_id = make_new_run_id()
    if progress is not None and progress.on:
        from karma_pipelines.apps.progress import StepReporter

        instance.add_event_listener(
            run_id, StepReporter(progress, SUMMARY_ASSETS, check_reason, error_reason)
        )
    abandoned = close_abandoned_mlflow_runs(MlflowResource(home=str(home)).target().client())
    result = execute_all(defs, instance, source, run_config=logs, raise_on_error=False, run_id=run_id)
    summary = summarize(result, home)
    summary["closed_abandoned_mlflow_runs"] = abandoned
    return summary
