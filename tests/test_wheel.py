"""The built wheel works on its own: installed into a fresh virtual environment outside the checkout (with
the locked dependencies), `karma-pipelines simulate` and `backtest` run from a folder outside it and find
the expectation suites, model specs and Dagster workspace the wheel carries. About 50 s, most of it the
backtest's imports."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _uv() -> str:
    """uv as the Makefile finds it: on PATH, else the private copy in $KARMA_HOME/tools."""
    found = shutil.which("uv")
    if found:
        return found
    private = Path(os.environ.get("KARMA_HOME") or ROOT / ".karma") / "tools" / "bin" / "uv"
    if not private.is_file():
        pytest.skip("uv not found on PATH nor in .karma/tools (`make test` installs it)")
    return str(private)


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 240) -> str:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    output = f"{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    assert done.returncode == 0, f"{cmd} failed ({done.returncode}):\n{output}"
    assert "FileNotFoundError" not in done.stderr, done.stderr[-6000:]
    return done.stdout


def test_installed_wheel_simulates_and_backtests(tmp_path):
    assert not tmp_path.resolve().is_relative_to(ROOT), "the test must run outside the checkout"
    uv = _uv()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONDONTWRITEBYTECODE", "UV_PROJECT")
        and not k.startswith(("KARMA_", "DAGSTER_", "MLFLOW_"))
    }
    env["OMP_NUM_THREADS"] = "1"

    dist = tmp_path / "dist"
    _run([uv, "build", "--wheel", "--quiet", "--out-dir", str(dist), str(ROOT)], tmp_path, env)
    (wheel,) = dist.glob("karma_pipelines-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for data in (
        "karma_pipelines/_data/expectations/karma_events.json",
        "karma_pipelines/_data/expectations/deploy_records.json",
        "karma_pipelines/_data/expectations/config_snapshots.json",
        "karma_pipelines/_data/models/rollback_forecaster.yaml",
        "karma_pipelines/_data/models/config_field_suggester.yaml",
        "karma_pipelines/_data/dagster.yaml",
        "karma_pipelines/_data/workspace.yaml",
    ):
        assert data in names, f"{data} missing from {wheel.name}"
    assert not any(n.startswith(("tests/", "assets/", "models/")) for n in names)

    requirements = tmp_path / "requirements.txt"
    _run(
        [uv, "export", "--frozen", "--no-dev", "--no-emit-project", "--quiet", "--project", str(ROOT)]
        + ["-o", str(requirements)],
        tmp_path,
        env,
    )
    venv = tmp_path / "venv"
    _run([uv, "venv", "--quiet", "--python", "3.11", str(venv)], tmp_path, env)
    python = venv / "bin" / "python"
    _run(
        [uv, "pip", "install", "--quiet", "--python", str(python), "-r", str(requirements), str(wheel)],
        tmp_path,
        env,
    )

    work = tmp_path / "elsewhere"
    work.mkdir()
    located = json.loads(
        _run(
            [
                str(python),
                "-c",
                "import json, karma_pipelines as k, karma_pipelines.contracts.package_data as d; "
                "from karma_pipelines.defs.origin import run_origins; "
                "o, c = run_origins('karma_ingest_job'); "
                "print(json.dumps([[o.location_name, o.repository_origin.repository_name, "
                "c.repository_origin.code_pointer.module], k.__file__, str(d.suite_path('karma_events')), "
                "str(d.spec_path('rollback_forecaster')), str(d.instance_settings_file()), "
                "str(d.workspace_file())]))",
            ],
            work,
            env,
        )
    )
    # `run`'s Dagster runs belong to the code location of the workspace the wheel carries (`defs.origin`).
    origin, *located = located
    assert origin == ["karma_pipelines", "__repository__", "karma_pipelines.definitions"]
    for path in located:
        assert Path(path).resolve().is_relative_to(venv.resolve()), f"{path} is not the installed package's"
        assert Path(path).is_file(), path

    cli = str(venv / "bin" / "karma-pipelines")
    world = work / "world"
    summary = json.loads(
        _run([cli, "simulate", "--out", str(world), "--components", "30", "--days", "60"], work, env)
    )
    assert summary["deploys"] > 0 and summary["events"] > 0

    report = json.loads(
        _run([cli, "backtest", "--events", str(world), "--json", "--home", str(work / "home")], work, env)
    )
    counts = report["counts"]
    assert counts["deploys"] > 0 and counts["labelled"] > 0 and counts["rolled_back"] > 0
    assert report["test_deploys"] > 0
    for metric in ("roc_auc", "pr_auc", "brier", "capture_at_10"):
        assert 0.0 <= report["model"][metric] <= 1.0, metric
    assert {"random", "parrot", "logistic"} <= set(report["baselines"])
    assert (work / "home" / "mlflow.db").is_file()
