"""`make run-prod` / `make stop-prod`: the production stack on this machine, under `<home>/prod`.

`start` starts, each in its own process group and left running:
- PostgreSQL (`apps.postgres`; data in `<home>/prod/postgres`) with two databases, `dagster` (the
  Dagster instance's runs, event logs and schedules) and `mlflow`;
- an MLflow tracking server on the `mlflow` database, serving its artifacts over HTTP from
  `<home>/prod/mlartifacts` (or `--artifacts s3://bucket/path`, an S3-compatible store configured by
  the usual AWS_* / MLFLOW_S3_ENDPOINT_URL variables of the server's environment);
- a Dask `LocalCluster` of two workers of one thread each (`dask` below), where LightGBM trains.

It writes `<home>/prod/prod.pid` (`name pid starttime` lines, as `ui.pid`) and `<home>/prod/stack.env`,
the settings of the prod profile (`karma_pipelines.profile`) that `make run-prod` exports before it
runs `karma-pipelines run --home <home>/prod`. `stop` stops every recorded process group by its id.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from karma_pipelines.apps.home import TELEMETRY_OFF
from karma_pipelines.apps.postgres import PostgresServer, create_databases, start_server
from karma_pipelines.apps.ui import (
    leftovers,
    mlflow_server_command,
    read_pid_file,
    server_environment,
    stop_recorded,
    write_pid_file,
)
from karma_pipelines.profile import DAGSTER_PG_ENV, DASK_SCHEDULER_ENV, PROFILE_ENV, TRACKING_URI_ENV
from karma_pipelines.tracking.store import MLFLOW_UI_URL_ENV

PID_FILE, ENV_FILE = "prod.pid", "stack.env"
DATABASES = ("dagster", "mlflow")
DASK_WORKERS = 2
# How each server stops cleanly: PostgreSQL's fast shutdown is SIGINT (SIGTERM waits for clients).
FIRST_SIGNAL = {"postgres": signal.SIGINT, "mlflow": signal.SIGTERM, "dask": signal.SIGTERM}


def prod_dir(home: Path) -> Path:
    return Path(home).resolve() / "prod"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_stack(home: Path, artifacts: str = "", timeout: float = 180.0) -> dict[str, str]:
    """Start PostgreSQL, MLflow and the Dask cluster (see the module's text); returns the prod
    profile's settings (also written to `<home>/prod/stack.env`). A stack of this home that is up is
    used as it is; raises when only part of one is running, or when a server does not come up (what
    started is stopped again)."""
    folder = prod_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    running = leftovers(read_pid_file(folder, PID_FILE))
    if set(running) == set(FIRST_SIGNAL) and (folder / ENV_FILE).exists():  # all up: used as it is
        return dict(line.split("=", 1) for line in (folder / ENV_FILE).read_text().splitlines())
    if running:
        raise RuntimeError(f"part of a prod stack of {home} is running ({running}): `make stop-prod` first")
    pids: dict[str, int] = {}
    try:
        pg = PostgresServer(folder / "postgres", free_port())
        postgres = start_server(pg, folder / "postgres.log")
        pids["postgres"] = postgres.pid
        write_pid_file(folder / PID_FILE, pids)
        create_databases(pg, list(DATABASES))
        mlflow_port, dask_port = free_port(), free_port()
        destination = artifacts or (folder / "mlartifacts").as_uri()
        options = ["--serve-artifacts", "--artifacts-destination", destination]
        env = server_environment(folder, 0, mlflow_port)["mlflow"]
        mlflow = mlflow_server_command(mlflow_port, pg.url("mlflow", "psycopg2"), options)
        pids["mlflow"] = _spawn(mlflow, env, folder)
        write_pid_file(folder / PID_FILE, pids)
        dask = [sys.executable, "-m", "karma_pipelines.apps.prod", "dask", "--port", str(dask_port)]
        pids["dask"] = _spawn(dask, {**os.environ, **TELEMETRY_OFF}, folder)
        write_pid_file(folder / PID_FILE, pids)
        settings = {
            PROFILE_ENV: "prod",
            DAGSTER_PG_ENV: pg.url("dagster", "psycopg2"),
            TRACKING_URI_ENV: f"http://127.0.0.1:{mlflow_port}",
            DASK_SCHEDULER_ENV: f"tcp://127.0.0.1:{dask_port}",
            MLFLOW_UI_URL_ENV: f"http://127.0.0.1:{mlflow_port}",
        }
        mlflow_up = functools.partial(_http_ok, f"{settings[TRACKING_URI_ENV]}/health")
        _wait("the MLflow server", mlflow_up, pids["mlflow"], timeout, folder / "mlflow.log")
        dask_up = functools.partial(_dask_workers_up, settings[DASK_SCHEDULER_ENV])
        _wait("the Dask cluster", dask_up, pids["dask"], timeout, folder / "dask.log")
    except BaseException:
        stop_stack(home)
        raise
    (folder / ENV_FILE).write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    return settings


def _spawn(command: list[str], env: dict[str, str], folder: Path) -> int:
    name = "mlflow" if "mlflow" in Path(command[0]).name else "dask"
    with (folder / f"{name}.log").open("ab") as log:
        proc = subprocess.Popen(
            command, env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    return proc.pid


def _alive(pid: int) -> bool:
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)  # ours: reap it if it ended
    except ChildProcessError:
        finished = 0
    return finished == 0


def _failed(name: str, log: Path) -> RuntimeError:
    tail = log.read_text(errors="replace").strip().splitlines()[-8:] if log.exists() else []
    return RuntimeError(f"{name} did not start; the end of {log}:\n" + "\n".join(tail))


def _wait(name: str, ready, pid: int, timeout: float, log: Path) -> None:
    """Until `ready()` (errors count as not yet); fails naming the server, with its log's end, when
    it exits or the time is up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            raise _failed(name, log)
        with contextlib.suppress(OSError):
            if ready():
                return
        time.sleep(0.5)
    raise _failed(f"{name} (timed out)", log)


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.status == 200


def _dask_workers_up(address: str) -> bool:
    from distributed import Client

    with Client(address, timeout="2s", set_as_default=False) as client:
        return len(client.nthreads()) >= DASK_WORKERS


def stop_stack(home: Path, grace: float = 20.0) -> int:
    """Stop every process group recorded in `<home>/prod/prod.pid`; 0 when nothing is left."""
    folder = prod_dir(home)
    entries = read_pid_file(folder, PID_FILE)
    if not entries:
        print(f"stop-prod: no {folder / PID_FILE}: nothing to stop")
        return 0
    left = stop_recorded(entries, FIRST_SIGNAL, grace, "stop-prod")
    if left:
        print(f"stop-prod: still running: {left}", file=sys.stderr)
        return 1
    (folder / PID_FILE).unlink(missing_ok=True)
    (folder / ENV_FILE).unlink(missing_ok=True)
    print(f"stop-prod: stopped {', '.join(f'{n} (pid {p})' for n, (p, _) in entries.items())}")
    return 0


def serve_dask(port: int, workers: int = DASK_WORKERS) -> int:
    """A Dask LocalCluster (worker processes of one thread each: LightGBM takes one thread per worker)
    on 127.0.0.1:<port>, until SIGTERM or SIGINT. The cluster keeps nothing: on either signal its worker
    processes are killed at once (a clean close would first see its nannies restart the workers the
    group's signal ended) and the process exits."""
    import psutil
    from distributed import LocalCluster

    def _stop(*_: object) -> None:
        for child in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                child.kill()
        os._exit(0)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        scheduler_port=port,
        dashboard_address=None,
    )
    print(f"dask: {cluster.scheduler_address}, {workers} workers", flush=True)
    while True:
        time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m karma_pipelines.apps.prod")
    parser.add_argument("action", choices=["start", "stop", "dask"])
    parser.add_argument("--home", default=".karma", help="the stack lives in <home>/prod (default .karma)")
    parser.add_argument("--artifacts", default=os.environ.get("KARMA_MLFLOW_ARTIFACTS", ""),
                        help="MLflow's artifact store: a folder URI or s3://bucket/path "
                        "(default $KARMA_MLFLOW_ARTIFACTS, else <home>/prod/mlartifacts)")  # fmt: skip
    parser.add_argument("--port", type=int, default=0, help="dask: the scheduler's port")
    args = parser.parse_args(argv)
    if args.action == "dask":
        return serve_dask(args.port)
    if args.action == "stop":
        return stop_stack(Path(args.home))
    started = time.monotonic()
    settings = start_stack(Path(args.home), args.artifacts)
    pids = read_pid_file(prod_dir(Path(args.home)), PID_FILE)
    print(
        f"prod stack up in {time.monotonic() - started:.1f} s: "
        f"PostgreSQL {settings[DAGSTER_PG_ENV].rsplit('/', 1)[0]} (pid {pids['postgres'][0]}), "
        f"MLflow {settings[TRACKING_URI_ENV]} (pid {pids['mlflow'][0]}), "
        f"Dask {settings[DASK_SCHEDULER_ENV]} with {DASK_WORKERS} workers (pid {pids['dask'][0]}); "
        f"settings in {prod_dir(Path(args.home)) / ENV_FILE}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
