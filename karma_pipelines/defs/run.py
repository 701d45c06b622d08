"""Run the whole pipeline on the persistent Dagster instance (its summary: `defs.summary`)."""

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
from dagster._core.execution.job_execution_result import JobExecutionResult

from karma_pipelines.defs.automation import range_tags
from karma_pipelines.defs.extract import karma_source_batches
from karma_pipelines.defs.origin import execute_in_location, run_origins
from karma_pipelines.defs.resources import KarmaSourceResource, MlflowResource
from karma_pipelines.defs.summary import SUMMARY_ASSETS, check_reason, error_reason, summarize
from karma_pipelines.profile import Profile, ProfileError, current_profile
from karma_pipelines.sources.git.layout import DEFAULT_LAYOUT
from karma_pipelines.sources.open import parse_source_spec
from karma_pipelines.tracking.liveness import (
    DAGSTER_RUNNER_TAG,
    close_abandoned_mlflow_runs,
    runner_gone,
    runner_token,
)

INGEST_JOB = "karma_ingest_job"


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
    tags = prepare_run(instance, source)
    return execute_in_location(
        defs.resolve_job_def(INGEST_JOB),
        instance,
        run_config=run_config,
        tags=tags,
        raise_on_error=raise_on_error,
        asset_selection=asset_selection,
        run_id=run_id,
    )


@contextlib.contextmanager
def execute_all_multiprocess(
    instance: dg.DagsterInstance,
    source: KarmaSourceResource,
    run_config: dict,
    run_id: str,
    asset_selection: list[dg.AssetKey] | None = None,
) -> Iterator[JobExecutionResult]:
    """The same run with the executor `run_config` names (the multiprocess one): each step is a process
    that loads the code location (`karma_pipelines.definitions`), its source from the environment
    (`source_environment`), so the job must be reconstructable and the instance persistent. Outputs can
    be read while the context is open."""
    from dagster._core.definitions.reconstruct import ReconstructableRepository
    from dagster._core.execution.api import execute_run

    from karma_pipelines.definitions import source_environment

    tags = prepare_run(instance, source)
    # The step processes fork from a server started by this run, with this environment (so one source
    # per process: a later run in the same process would reuse that server).
    saved = {key: os.environ.get(key) for key in source_environment(source)}
    os.environ.update(source_environment(source))
    job = ReconstructableRepository.for_module(
        "karma_pipelines.definitions", "defs", working_directory=os.getcwd()
    ).get_reconstructable_job(INGEST_JOB)
    remote_origin, code_origin = run_origins(INGEST_JOB)  # the UI's code location, as in process
    dagster_run = instance.create_run_for_job(
        job_def=job.get_definition(),
        run_id=run_id,
        run_config=run_config,
        tags=tags,
        remote_job_origin=remote_origin,
        job_code_origin=code_origin,
        asset_selection=frozenset(asset_selection) if asset_selection else None,
    )
    try:
        with execute_run(job, dagster_run, instance) as result:
            yield result
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def prepare_run(instance: dg.DagsterInstance, source: KarmaSourceResource) -> dict[str, str]:
    """Register every batch of the source as a partition, fail abandoned runs; the run's tags."""
    reader = source.source()
    reader.describe()  # a simulated world is written here on first use, so its batches are known
    keys = list(reader.batch_keys())
    known = set(instance.get_dynamic_partitions(karma_source_batches.name))
    instance.add_dynamic_partitions(karma_source_batches.name, [k for k in keys if k not in known])
    partitions = instance.get_dynamic_partitions(karma_source_batches.name)
    fail_abandoned_runs(instance)
    return {**range_tags(partitions), DAGSTER_RUNNER_TAG: runner_token()}


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


def run_pipeline(
    source: KarmaSourceResource,
    home: Path,
    progress=None,
    asset_selection: list[dg.AssetKey] | None = None,
) -> dict:
    """Materialize every asset (or `asset_selection`; checks included) with the DAGSTER_HOME instance;
    return a summary of THIS run (its own events, never an earlier run's materializations) and of the
    registry after it. The profile (`karma_pipelines.profile`) says where the stores are and how steps
    execute."""
    from dagster._core.utils import make_new_run_id

    from karma_pipelines.definitions import build_definitions

    profile = current_profile()
    mlflow_store = MlflowResource(tracking_uri=profile.tracking_uri, home=str(home))
    instance = dg.DagsterInstance.get()
    check_instance(instance, profile)
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
    abandoned = close_abandoned_mlflow_runs(mlflow_store.target().client())
    if profile.multiprocess:
        run_config = {**logs, **profile.run_config()}
        with execute_all_multiprocess(instance, source, run_config, run_id, asset_selection) as result:
            summary = summarize(result, home)
    else:
        defs = build_definitions(source=source, mlflow_store=mlflow_store)
        result = execute_all(
            defs, instance, source, logs, raise_on_error=False, asset_selection=asset_selection, run_id=run_id
        )
        summary = summarize(result, home)
    summary["closed_abandoned_mlflow_runs"] = abandoned
    summary["profile"] = profile.describe()
    return summary


def check_instance(instance: dg.DagsterInstance, profile: Profile) -> None:
    """The prod profile runs on PostgreSQL storage only: an instance folder made for SQLite is an error."""
    storage = type(instance.run_storage).__name__
    if profile.dagster_pg_url and "Postgres" not in storage:
        raise ProfileError(
            f"KARMA_PROFILE=prod but the Dagster instance in {instance.root_directory} uses {storage}: "
            "its dagster.yaml predates the profile; remove it (or use another --home)"
        )
