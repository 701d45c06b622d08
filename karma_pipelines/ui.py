"""`make ui`: Dagster and MLflow on 127.0.0.1 against the project's stores, stopped together."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def _reset_signals() -> None:
    # A child of a non-interactive shell may inherit an ignored SIGINT and then never stop.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def server_commands(home: Path, dagster_port: int, mlflow_port: int) -> dict[str, list[str]]:
    bin_dir = Path(sys.executable).parent
    return {
        "dagster": [
            str(bin_dir / "dagster"),
            "dev",
            "-h",
            "127.0.0.1",
            "-p",
            str(dagster_port),
            "-w",
            "workspace.yaml",
        ],
        "mlflow": [
            str(bin_dir / "mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(mlflow_port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{home / 'mlflow.db'}",
            "--default-artifact-root",
            (home / "mlartifacts").as_uri(),
        ],
    }


def stop_group(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """Stop a server and every process it started (each server runs in its own process group)."""
    if proc.poll() is not None:
        return
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError):  # children that outlived their parent
        os.killpg(proc.pid, signal.SIGKILL)


def serve(home: Path, dagster_port: int = 3000, mlflow_port: int = 5000) -> int:
    """Start both servers and wait; Ctrl-C or SIGTERM stops both and all their children."""
    home = home.resolve()
    env = {**os.environ, "DAGSTER_HOME": str(home / "dagster"), "KARMA_HOME": str(home)}
    env.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
    (home / "dagster").mkdir(parents=True, exist_ok=True)
    procs = {
        name: subprocess.Popen(cmd, env=env, start_new_session=True, preexec_fn=_reset_signals)
        for name, cmd in server_commands(home, dagster_port, mlflow_port).items()
    }
    print(
        f"Dagster http://127.0.0.1:{dagster_port}  MLflow http://127.0.0.1:{mlflow_port}  (Ctrl-C stops both)"
    )
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        while not stopping and all(p.poll() is None for p in procs.values()):
            time.sleep(0.5)
    finally:
        for proc in procs.values():
            stop_group(proc)
    failed = [n for n, p in procs.items() if p.returncode not in (0, -2, -15, -9, None) and not stopping]
    return 1 if failed else 0
