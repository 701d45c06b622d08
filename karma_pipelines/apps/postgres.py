"""A PostgreSQL server of our own for the prod profile and its tests: Debian's binaries
(`/usr/lib/postgresql/<version>/bin`, installed by `make run-prod` / `make test` when missing and root),
a data folder we choose, TCP on 127.0.0.1 only (no Unix socket), password-less for the loopback.

PostgreSQL refuses to run as root: as root the server and `initdb` run as the `postgres` account that
Debian's package creates, and the data folder belongs to it (its parents must let it through).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SUPERUSER = "karma"  # the cluster's superuser (initdb -U), whatever account runs the server
SERVICE_ACCOUNT = "postgres"
DEBIAN_BIN = Path("/usr/lib/postgresql")


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot be run here (not installed, or no account to run it as)."""


def bin_dir() -> Path:
    """The folder of `initdb` and `postgres`: the one on PATH, else Debian's newest version."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(DEBIAN_BIN.glob("*/bin/initdb"), key=lambda p: _version(p.parent.parent.name))
    if versions:
        return versions[-1].parent
    raise PostgresUnavailable(
        "PostgreSQL is not installed (no initdb on PATH or under /usr/lib/postgresql/*/bin): "
        "`apt-get install postgresql` (make run-prod and make test do it when run as root)"
    )


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(p) for p in name.split(".") if p.isdigit())


def service_user() -> str | None:
    """The account the server runs as: None (this process's own) unless this process is root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVICE_ACCOUNT)
    except KeyError as exc:
        raise PostgresUnavailable(
            f"running as root and there is no `{SERVICE_ACCOUNT}` account to run PostgreSQL as "
            "(Debian's postgresql package creates it)"
        ) from exc
    return SERVICE_ACCOUNT


def _as_service(user: str | None) -> dict:
    """subprocess arguments that run a command as `user` (no supplementary groups of root's)."""
    return {} if user is None else {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []}


@dataclass(frozen=True)
class PostgresServer:
    data_dir: Path
    port: int

    def url(self, database: str, driver: str = "") -> str:
        """`postgresql://` (libpq's form, for psycopg2.connect) or a SQLAlchemy URL with its driver
        (`psycopg2`: SQLAlchemy 2.1 defaults to psycopg 3, which is not installed; dagster-postgres and
        MLflow hand their URL to SQLAlchemy as given)."""
        scheme = f"postgresql+{driver}" if driver else "postgresql"
        return f"{scheme}://{SUPERUSER}@127.0.0.1:{self.port}/{database}"


def init_data_dir(data_dir: Path) -> None:
    """`initdb` into `data_dir` unless it already holds a cluster (owned by the service account)."""
    if (data_dir / "PG_VERSION").exists():
        return
    user = service_user()
    data_dir.mkdir(parents=True, exist_ok=True)
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(data_dir, entry.pw_uid, entry.pw_gid)
        _check_reachable(data_dir, entry.pw_uid)
    data_dir.chmod(0o700)
    command = [str(bin_dir() / "initdb"), "-D", str(data_dir), "-U", SUPERUSER, "--auth=trust"]
    command += ["--encoding=UTF8", "--locale=C", "--no-sync"]
    done = subprocess.run(
        command, cwd=data_dir, capture_output=True, text=True, check=False, **_as_service(user)
    )
    if done.returncode != 0:
        raise PostgresUnavailable(f"initdb {data_dir} failed: {done.stderr.strip() or done.stdout.strip()}")


def _check_reachable(path: Path, uid: int) -> None:
    """As root, every parent of the data folder must let the service account through (o+x)."""
    for parent in path.resolve().parents:
        mode = parent.stat()
        if parent.stat().st_uid != uid and not mode.st_mode & 0o001:
            raise PostgresUnavailable(
                f"{parent} is closed to the `{SERVICE_ACCOUNT}` account (mode {oct(mode.st_mode & 0o777)}): "
                f"PostgreSQL could not reach its data in {path}; use a home under an open folder"
            )


def server_command(server: PostgresServer) -> list[str]:
    """`postgres` on 127.0.0.1:<port>, no Unix socket, logging to stderr."""
    settings = {
        "listen_addresses": "127.0.0.1",
        "unix_socket_directories": "",
        "max_connections": "100",
        "shared_buffers": "64MB",
    }
    command = [str(bin_dir() / "postgres"), "-D", str(server.data_dir), "-p", str(server.port)]
    for key, value in settings.items():
        command += ["-c", f"{key}={value}"]
    return command


def start_server(server: PostgresServer, log: Path, start_new_session: bool = True) -> subprocess.Popen:
    """Start the server (initialising its data folder first if needed); returns once it accepts
    connections. The process is the postmaster itself, the leader of its own process group."""
    init_data_dir(server.data_dir)
    user = service_user()
    with log.open("ab") as out:
        proc = subprocess.Popen(
            server_command(server),
            cwd=server.data_dir,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=start_new_session,
            **_as_service(user),
        )
    try:
        wait_ready(server, proc, log)
    except BaseException:
        proc.terminate()
        proc.wait(30)
        raise
    return proc


def wait_ready(server: PostgresServer, proc: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    import psycopg2

    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-5:]
            raise PostgresUnavailable(f"postgres exited with {proc.returncode}: {' | '.join(tail)}")
        try:
            psycopg2.connect(server.url("postgres"), connect_timeout=2).close()
            return
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def create_databases(server: PostgresServer, names: list[str]) -> None:
    """Create each database that does not exist yet."""
    import psycopg2
    from psycopg2 import sql

    connection = psycopg2.connect(server.url("postgres"))
    connection.autocommit = True  # CREATE DATABASE cannot run in a transaction
    try:
        with connection.cursor() as cursor:
            for name in names:
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if cursor.fetchone() is None:
                    cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        connection.close()
