"""The code location of the runs `run` starts: the one the Dagster UI loads.

`make ui` serves the code location `workspace.yaml` declares (the wheel carries the file as
`_data/workspace.yaml`, so an installed `run` finds the same). The UI groups runs by their code-location
origin (location and repository name): its Overview timeline, a location's run list and the
`.dagster/repository` run filter skip a run without one. `JobDefinition.execute_in_process` (and
`dagster.execute_job`) take no origin and create runs without it, so `execute_in_location` is
`execute_in_process` with the run created as a run launched from the UI is: carrying the location's
`remote_job_origin` and `job_code_origin`. It still executes in this process (no code server, no run
launcher): progress listeners, the in-memory outputs and `ExecuteInProcessResult` stay as they were.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Mapping, Sequence

import dagster as dg

from karma_pipelines.contracts.package_data import workspace_file


@functools.cache
def code_location():
    """The one code location of the workspace, as Dagster's workspace loader reads it (what `dagster dev
    -w workspace.yaml` starts a code server for)."""
    from dagster._core.workspace.load import location_origins_from_yaml_paths

    path = workspace_file()
    origins = location_origins_from_yaml_paths([str(path)])
    if len(origins) != 1:
        raise ValueError(f"{path} declares {len(origins)} code locations; `run` needs exactly one")
    return origins[0]


@functools.cache
def _repository():
    """The location's repository as its code server loads it: (name, python origin)."""
    from dagster._core.code_pointer import CodePointer
    from dagster._core.definitions.reconstruct import ReconstructableRepository
    from dagster._core.workspace.autodiscovery import loadable_targets_from_python_module

    target = code_location().loadable_target_origin
    if not target.module_name:
        raise ValueError(f"{workspace_file()}: `run` supports a python_module code location only")
    (loadable,) = loadable_targets_from_python_module(target.module_name, target.working_directory)
    pointer = CodePointer.from_module(target.module_name, loadable.attribute, target.working_directory)
    repository = ReconstructableRepository(pointer, executable_path=target.executable_path or sys.executable)
    return repository.get_definition().name, repository.get_python_origin()


def run_origins(job_name: str):
    """(remote_job_origin, job_code_origin) of a run of `job_name` in the UI's code location."""
    from dagster._core.remote_origin import RemoteRepositoryOrigin

    name, python_origin = _repository()
    remote = RemoteRepositoryOrigin(code_location_origin=code_location(), repository_name=name)
    return remote.get_job_origin(job_name), python_origin.get_job_origin(job_name)


def execute_in_location(
    job: dg.JobDefinition,
    instance: dg.DagsterInstance,
    run_config: Mapping | None = None,
    tags: Mapping[str, str] | None = None,
    raise_on_error: bool = True,
    asset_selection: Sequence[dg.AssetKey] | None = None,
    run_id: str | None = None,
) -> dg.ExecuteInProcessResult:
    """`job.execute_in_process(...)` (in this process, outputs captured) with a run that carries the
    code-location origin of `run_origins`."""
    from dagster._core.definitions.job_base import InMemoryJob
    from dagster._core.execution.api import (
        ExecuteRunWithPlanIterable,
        create_execution_plan,
        job_execution_iterator,
    )
    from dagster._core.execution.context_creation_job import (
        PlanOrchestrationContextManager,
        orchestration_context_event_generator,
    )

    selection = list(asset_selection or [])
    ephemeral = job.as_ephemeral_job(resource_defs={}, input_values={}, asset_selection=selection)
    in_memory = InMemoryJob(job_def=ephemeral)
    run_config = dict(run_config or {})
    ref = instance.get_ref() if instance.is_persistent else None
    plan = create_execution_plan(in_memory, run_config=run_config, instance_ref=ref)
    remote_origin, code_origin = run_origins(job.name)
    run = instance.create_run_for_job(
        job_def=ephemeral,
        execution_plan=plan,
        run_id=run_id,
        run_config=run_config,
        tags={**job.run_tags, **(tags or {})},
        asset_selection=frozenset(selection),
        remote_job_origin=remote_origin,
        job_code_origin=code_origin,
    )
    output_capture: dict = {}
    events = list(
        ExecuteRunWithPlanIterable(
            execution_plan=plan,
            iterator=job_execution_iterator,
            execution_context_manager=PlanOrchestrationContextManager(
                context_event_generator=orchestration_context_event_generator,
                job=in_memory,
                execution_plan=plan,
                dagster_run=run,
                instance=instance,
                run_config=run_config,
                executor_defs=None,
                output_capture=output_capture,
                raise_on_error=raise_on_error,
            ),
        )
    )
    return dg.ExecuteInProcessResult(
        job_def=ephemeral,
        event_list=events,
        dagster_run=instance.get_run_by_id(run.run_id),
        output_capture=output_capture,
    )
