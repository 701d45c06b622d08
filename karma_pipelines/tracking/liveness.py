"""Which process runs a Dagster or MLflow run, and closing the runs of a process that is gone.

A run started here carries a runner tag, `<host>:<pid>:<start time>`. A run still `STARTED` (Dagster)
or `RUNNING` (MLflow) whose runner on this host is no longer alive (killed, crashed, the machine
restarted; a later process reusing the pid has another start time) can never finish: the next run marks
it failed (Dagster) or killed (MLflow), with the reason. Runs from another host are left alone: whether
their process lives cannot be told from here.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import psutil

RUNNER_TAG = "karma.runner"  # MLflow tag; Dagster's is DAGSTER_RUNNER_TAG (Dagster tag keys take `/`)
DAGSTER_RUNNER_TAG = "karma/runner"
_GONE = (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip().split("-")[0]
    except OSError:
        return ""


_BOOT = _boot_id()


def _start_ticks(pid: int) -> str | None:
    """Field 22 of /proc/<pid>/stat: clock ticks from boot to the process's start. Unlike psutil's
    create_time (boot time, read from the wall clock, plus these ticks), it does not move when the
    clock is stepped (NTP, a VM restored from a snapshot), so a token taken before a step still matches."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return stat[stat.rindex(b")") + 2 :].split()[19].decode()


def process_token(proc: psutil.Process) -> str | None:
    """The start of a live (non-zombie) process as an opaque token, or None: it tells a process from a
    later one that reuses its pid. On Linux, `<boot id>-<start ticks>`; elsewhere the start time."""
    try:
        if proc.status() in _GONE:
            return None
        ticks = _start_ticks(proc.pid) if _BOOT else None
        return f"{_BOOT}-{ticks}" if ticks is not None else f"{proc.create_time():.3f}"
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def start_time(pid: int) -> str | None:
    """Start time of a live process, or None."""
    try:
        return process_token(psutil.Process(pid))
    except (psutil.NoSuchProcess, ValueError):
        return None


def runner_token(pid: int | None = None) -> str:
    """This process (or `pid`) as a runner tag value."""
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{start_time(pid)}"


def runner_gone(token: str | None) -> bool:
    """True when the runner named by `token` is known to be dead: same host, and no live process with
    that pid and start time. False for another host's runner, or a run without the tag."""
    if not token or token.count(":") < 2:
        return False
    host, pid, started = token.rsplit(":", 2)
    if host != socket.gethostname() or not pid.isdigit():
        return False
    return start_time(int(pid)) != started


def close_abandoned_mlflow_runs(client) -> list[str]:
    """Mark KILLED every RUNNING MLflow run whose runner is gone; returns their run ids."""
    closed = []
    experiments = [e.experiment_id for e in client.search_experiments()]
    if not experiments:
        return closed
    for run in client.search_runs(experiments, filter_string="attributes.status = 'RUNNING'"):
        token = run.data.tags.get(RUNNER_TAG)
        if runner_gone(token):
            client.set_tag(run.info.run_id, "karma.closed_reason", f"its process ({token}) ended mid-run")
            client.set_terminated(run.info.run_id, status="KILLED")
            closed.append(run.info.run_id)
    return closed
