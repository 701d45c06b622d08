"""`make ui`: Dagster and MLflow on 127.0.0.1 against the project's stores, stopped together.

`serve` writes `<home>/ui.pid`: the supervisor's pid on the first line (so `kill $(head -n1 ui.pid)` works),
then one `name pid starttime` line per process it watches (the supervisor and each server's process group,
whose id is the server's pid). `stop_ui` (`make ui-stop`) reads it, stops the supervisor with SIGTERM and
then makes sure nothing of either server's process group is left, even when the supervisor was killed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from karma_pipelines.apps.home import TELEMETRY_OFF, ensure_instance
from karma_pipelines.apps.host_guard import FOLDER as HOST_GUARD
from karma_pipelines.apps.processes import group_members, our_group_members, signal_group, start_time
from karma_pipelines.contracts.package_data import workspace_file
from karma_pipelines.tracking.store import DAGSTER_UI_URL_ENV, MLFLOW_UI_URL_ENV

PID_FILE = "ui.pid"


def _reset_signals() -> None:
    # A child of a non-interactive shell may inherit an ignored SIGINT and then never stop.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def server_commands(home: Path, dagster_port: int, mlflow_port: int) -> dict[str, list[str]]:
    """`dagster dev` (run from DAGSTER_HOME, see `server_cwds`) and `mlflow server`, without access logs."""
    bin_dir = Path(sys.executable).parent
    store = f"sqlite:///{home / 'mlflow.db'}"
    return {
        # `dagster dev` says it is superseded by `dg dev`, which is not in the lock (dagster-dg-cli);
        # dagster-webserver + dagster-daemon would load the code location twice. Its notice is filtered
        # (`server_environment`). The webserver logs no requests (uvicorn at its default `warning` level).
        "dagster": [
            str(bin_dir / "dagster"),
            "dev",
            "-h",
            "127.0.0.1",
            "-p",
            str(dagster_port),
            "-w",
            str(workspace_file()),  # the code location `run`'s runs belong to (`defs.origin`)
        ],
        "mlflow": mlflow_server_command(
            mlflow_port, store, ["--default-artifact-root", (home / "mlartifacts").as_uri()]
        ),
    }


def mlflow_server_command(port: int, store: str, artifacts: list[str]) -> list[str]:
    """`mlflow server` on 127.0.0.1:<port> with runs and models in `store` (a database URI) and the
    `artifacts` options, one worker, without access logs."""
    return [
        str(Path(sys.executable).parent / "mlflow"),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--uvicorn-opts",
        "--no-access-log",
        "--backend-store-uri",
        store,
        "--registry-store-uri",
        store,
        *artifacts,
    ]


def server_cwds(home: Path) -> dict[str, Path | None]:
    """`dagster dev` runs in DAGSTER_HOME: in the checkout it would warn that the project's dagster.yaml
    (the template `make setup` copies into DAGSTER_HOME) is not the instance's configuration."""
    return {"dagster": home / "dagster", "mlflow": None}


# Python warnings of the servers that are nothing a user can act on (PYTHONWARNINGS: message prefixes).
QUIET_WARNINGS = {
    "dagster": ["Function `dev_command` is superseded"],
    "mlflow": ["starlette.middleware.wsgi is deprecated"],  # MLflow's own import, MLflow's to fix
}
# How each server stops cleanly: `dagster dev` shuts its webserver and daemon down on SIGINT; MLflow's
# uvicorn shuts down on either, but on SIGINT ends with a KeyboardInterrupt traceback.
FIRST_SIGNAL = {"dagster": signal.SIGINT, "mlflow": signal.SIGTERM}


def server_environment(home: Path, dagster_port: int, mlflow_port: int) -> dict[str, dict[str, str]]:
    """Each server's environment: the stores, the UIs' addresses (links between them follow the ports),
    and its quietened warnings."""
    base = {
        **os.environ,
        "DAGSTER_HOME": str(home / "dagster"),
        "KARMA_HOME": str(home),
        MLFLOW_UI_URL_ENV: f"http://127.0.0.1:{mlflow_port}",
        DAGSTER_UI_URL_ENV: f"http://127.0.0.1:{dagster_port}",
        **TELEMETRY_OFF,
    }
    base.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
    # MLflow 3's server also starts a job runner with 7 Huey consumers (GenAI jobs, trace scoring), which
    # we do not use: without them it is ready in about 17 s instead of 50 and stops in about 5 s.
    base.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    envs = {}
    for name, messages in QUIET_WARNINGS.items():
        filters = [f"ignore:{m}" for m in messages] + [base.get("PYTHONWARNINGS", "")]
        envs[name] = {**base, "PYTHONWARNINGS": ",".join(f for f in filters if f)}
    # Dagster's webserver answers loopback host names only, as MLflow's does (`host_guard`).
    paths = [str(HOST_GUARD), base.get("PYTHONPATH", "")]
    envs["dagster"]["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return envs


# --- the supervisor ---------------------------------------------------------------------------------


def stop_groups(
    procs: list[subprocess.Popen], grace: float = 10.0, first: dict[int, signal.Signals] | None = None
) -> None:
    """Stop servers and every process they started, all at once (each server is its own process group).

    First each server's clean-stop signal (`first`, by pid; SIGINT by default: both servers shut their
    children down on it), then SIGTERM, then SIGKILL."""
    for step, sig in enumerate((signal.SIGINT, signal.SIGTERM, signal.SIGKILL)):
        running = [p for p in procs if p.poll() is None]
        if not running:
            break
        for proc in running:
            signal_group(proc.pid, (first or {}).get(proc.pid, sig) if step == 0 else sig)
        deadline = time.monotonic() + grace
        for proc in running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    for proc in procs:  # children that outlived their parent
        signal_group(proc.pid, signal.SIGKILL)
    deadline = time.monotonic() + grace  # gone, not only signalled, when this returns
    while any(group_members(p.pid) for p in procs) and time.monotonic() < deadline:
        time.sleep(0.1)


def stop_group(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """Stop a server and every process it started (each server runs in its own process group)."""
    stop_groups([proc], grace)


def read_pid_file(home: Path, name: str = PID_FILE) -> dict[str, tuple[int, str]]:
    """{name: (pid, start time)} from `<home>/ui.pid` ('supervisor', 'dagster', 'mlflow'), or another
    pid file of the same form (`apps.prod`); {} if none."""
    path = home.resolve() / name
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return {}
    entries = {}
    for line in lines[1:]:
        name, pid, started = line.split()
        entries[name] = (int(pid), started)
    return entries


def _write_pid_file(home: Path, procs: dict[str, subprocess.Popen]) -> None:
    me = os.getpid()
    write_pid_file(home / PID_FILE, {"supervisor": me, **{name: p.pid for name, p in procs.items()}})


def write_pid_file(path: Path, pids: dict[str, int]) -> None:
    """The first pid on the first line (`kill $(head -n1 <file>)`), then `name pid starttime` lines
    (the start time tells a reused pid from ours); replaced atomically."""
    lines = [str(next(iter(pids.values())))]
    lines += [f"{name} {pid} {start_time(pid) or '-'}" for name, pid in pids.items()]
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)


def _running_supervisor(home: Path) -> int | None:
    entry = read_pid_file(home).get("supervisor")
    if entry and start_time(entry[0]) == entry[1]:
        return entry[0]
    return None


def serve(home: Path, dagster_port: int = 3000, mlflow_port: int = 5000) -> int:
    """Start both servers and wait; Ctrl-C or SIGTERM stops both and all their children."""
    home = home.resolve()
    running = _running_supervisor(home)
    if running is not None:
        print(
            f"karma-pipelines ui: already running for {home} (pid {running}); stop it with `make ui-stop`",
            file=sys.stderr,
        )
        return 1
    envs = server_environment(home, dagster_port, mlflow_port)
    cwds = server_cwds(home)
    ensure_instance(home)
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    # Before the servers start: a signal during start-up must still stop them.
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    procs: dict[str, subprocess.Popen] = {}
    try:
        for name, cmd in server_commands(home, dagster_port, mlflow_port).items():
            procs[name] = subprocess.Popen(
                cmd, env=envs[name], cwd=cwds[name], start_new_session=True, preexec_fn=_reset_signals
            )
        _write_pid_file(home, procs)
        print(
            f"Dagster http://127.0.0.1:{dagster_port}  MLflow http://127.0.0.1:{mlflow_port}  "
            "(Ctrl-C or `make ui-stop` stops both)",
            flush=True,
        )
        while not stopping and all(p.poll() is None for p in procs.values()):
            time.sleep(0.5)
    finally:
        stop_groups(list(procs.values()), first={p.pid: FIRST_SIGNAL[n] for n, p in procs.items()})
        if _running_supervisor(home) == os.getpid():
            (home / PID_FILE).unlink(missing_ok=True)
    failed = [n for n, p in procs.items() if p.returncode not in (0, -2, -15, -9, None) and not stopping]
    return 1 if failed else 0


def leftovers(entries: dict[str, tuple[int, str]]) -> dict[str, list[int]]:
    """Live processes of the servers in `read_pid_file`'s entries, by server (empty when all stopped)."""
    servers = {name: entry for name, entry in entries.items() if name != "supervisor"}
    found = {name: our_group_members(pid, started) for name, (pid, started) in servers.items()}
    return {name: pids for name, pids in found.items() if pids}


def stop_recorded(
    entries: dict[str, tuple[int, str]], first: dict[str, signal.Signals], grace: float, label: str
) -> dict[str, list[int]]:
    """Stop what is left of the recorded servers' process groups: each one's clean-stop signal
    (`first`, by name; SIGINT by default), then SIGTERM, then SIGKILL. Returns what is still left."""
    for step, sig in enumerate((signal.SIGINT, signal.SIGTERM, signal.SIGKILL)):
        left = leftovers(entries)
        if not left:
            break
        sent = {name: first.get(name, sig) if step == 0 else sig for name in left}
        print(f"{label}: {', '.join(f'{s.name} to {n}' for n, s in sent.items())}: {left}")
        for name in left:
            signal_group(entries[name][0], sent[name])
        deadline = time.monotonic() + grace
        while leftovers(entries) and time.monotonic() < deadline:
            time.sleep(0.2)
    return leftovers(entries)


def stop_ui(home: Path, timeout: float = 60.0, grace: float = 10.0) -> int:
    """`make ui-stop`: SIGTERM the `karma-pipelines ui` of `home`, wait for it, then stop whatever is
    left of both servers' process groups. 0 when nothing of ours is left, else 1."""
    home = home.resolve()
    entries = read_pid_file(home)  # read once: a supervisor that stops removes the file
    if not entries:
        print(f"ui-stop: no {home / PID_FILE}: nothing to stop")
        return 0
    supervisor = _running_supervisor(home)
    if supervisor is None:
        print(f"ui-stop: the supervisor (pid {entries['supervisor'][0]}) is not running")
    else:
        print(f"ui-stop: SIGTERM to the supervisor (pid {supervisor})")
        os.kill(supervisor, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while start_time(supervisor) == entries["supervisor"][1] and time.monotonic() < deadline:
            time.sleep(0.2)
    stop_recorded(entries, FIRST_SIGNAL, grace, "ui-stop")  # the supervisor was killed or hung
    if supervisor is not None and start_time(supervisor) == entries["supervisor"][1]:
        print(f"ui-stop: the supervisor (pid {supervisor}) did not stop; killing it")
        with contextlib.suppress(ProcessLookupError):
            os.kill(supervisor, signal.SIGKILL)
    left = leftovers(entries)
    if left:
        print(f"ui-stop: still running: {left}", file=sys.stderr)
        return 1
    if read_pid_file(home) == entries:  # stale (the supervisor was killed), not a newer `make ui`'s
        (home / PID_FILE).unlink(missing_ok=True)
    print("ui-stop: no Dagster or MLflow process of this `make ui` is left")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m karma_pipelines.apps.ui")
    parser.add_argument("action", choices=["stop"], help="stop: stop the `karma-pipelines ui` of --home")
    parser.add_argument("--home", default=".karma", help="folder of the stores (default .karma)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for a clean stop")
    args = parser.parse_args(argv)
    return stop_ui(Path(args.home), timeout=args.timeout)


if __name__ == "__main__":
    sys.exit(main())
