"""A run whose process is killed (kill -9) never finishes: the next run marks its Dagster run failed and
its MLflow run killed, with the reason; runs of live processes and of other hosts are left alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import dagster as dg
import mlflow
import psutil
import pytest
from mlflow import MlflowClient

from karma_pipelines.apps.home import ensure_instance
from karma_pipelines.defs.run import fail_abandoned_runs
from karma_pipelines.tracking.liveness import (
    RUNNER_TAG,
    close_abandoned_mlflow_runs,
    runner_gone,
    runner_token,
)

CLI = [sys.executable, "-m", "karma_pipelines.apps.cli"]


def wait_for(condition, timeout=180.0, every=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("timed out")


def test_runner_tokens_tell_live_dead_and_foreign_processes():
    assert not runner_gone(runner_token())
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    token = runner_token(proc.pid)
    assert not runner_gone(token)
    proc.kill()
    proc.wait()
    assert runner_gone(token)
    assert not runner_gone("another-host:1:123.000") and not runner_gone(None) and not runner_gone("junk")


def test_a_runner_token_survives_a_clock_step(monkeypatch):
    """A VM restored from a snapshot, or NTP, steps the wall clock, and with it psutil's create_time
    (boot time read from the clock, plus ticks since boot): a live runner must still match its token."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        token = runner_token(proc.pid)
        stepped = psutil.Process.create_time
        monkeypatch.setattr(psutil.Process, "create_time", lambda self: stepped(self) + 1.0)
        assert runner_token(proc.pid) == token and not runner_gone(token)
    finally:
        proc.kill()
        proc.wait()


def test_a_killed_run_is_marked_failed_by_the_next_one(tmp_path):
    home, world = tmp_path / "home", tmp_path / "world"
    subprocess.run([*CLI, "simulate", "--out", str(world), "--components", "30", "--days", "30"],
                   check=True, capture_output=True)  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "KARMA_HOME")}
    proc = subprocess.Popen([*CLI, "run", "--source", f"events:{world}", "--home", str(home)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    started = [dg.DagsterRunStatus.STARTED]
    try:
        wait_for(lambda: (home / "dagster" / "dagster.yaml").exists())
        with dg.DagsterInstance.from_config(str(ensure_instance(home))) as instance:
            run = wait_for(lambda: instance.get_runs(filters=dg.RunsFilter(statuses=started)))[0]
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED  # stuck
            assert fail_abandoned_runs(instance) == [run.run_id]
            after = instance.get_run_by_id(run.run_id)
            assert after.status == dg.DagsterRunStatus.FAILURE
            failure = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
            assert "ended mid-run" in failure[-1].dagster_event.message
            assert fail_abandoned_runs(instance) == []  # once
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_killed_mlflow_run_is_closed_as_killed(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    code = (
        "import sys, time, mlflow\n"
        "from karma_pipelines.tracking.liveness import RUNNER_TAG, runner_token\n"
        f"mlflow.set_tracking_uri({uri!r}); mlflow.set_experiment('karma-pipelines')\n"
        "run = mlflow.start_run(tags={RUNNER_TAG: runner_token()})\n"
        "print(run.info.run_id, flush=True); time.sleep(120)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    killed_id = proc.stdout.readline().strip()
    client = MlflowClient(uri)
    mlflow.set_tracking_uri(uri)
    with mlflow.start_run(tags={RUNNER_TAG: runner_token()}) as live:  # this process: alive
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        foreign = client.create_run(live.info.experiment_id, tags={RUNNER_TAG: "elsewhere:1:1.000"})
        assert close_abandoned_mlflow_runs(client) == [killed_id]
        assert client.get_run(killed_id).info.status == "KILLED"
        assert "ended mid-run" in client.get_run(killed_id).data.tags["karma.closed_reason"]
        assert client.get_run(live.info.run_id).info.status == "RUNNING"
        assert client.get_run(foreign.info.run_id).info.status == "RUNNING"


@pytest.mark.usefixtures("simulated_pipeline")
def test_pipeline_runs_carry_their_runner(simulated_pipeline):
    home, _ = simulated_pipeline
    client = MlflowClient(f"sqlite:///{home / 'mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert runs and all(RUNNER_TAG in r.data.tags for r in runs)
    assert {r.info.status for r in runs} == {"FINISHED"}
