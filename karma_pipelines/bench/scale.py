"""Bench section `scale`: the scale curve. Simulated worlds of about 20k, 100k, 300k and 1M deploys taken
end to end by `karma-pipelines backtest --events` (extract → validate → features → train → log), each in a
child process of its own, beside the floor measured in the same run: LightGBM training alone (the spec's
parameters, one thread, its early stopping) on the same feature matrix: the training rows the backtest
itself wrote (`backtest --training-rows`), so the floor costs seconds at any size.

`KARMA_BENCH_SCALE_SIZES=20000,100000` picks the sizes (default all four); `KARMA_BENCH_SCALE_WORLDS=DIR`
keeps the simulated worlds there between runs (default: the bench's temporary folder). Figures per size:
wall and CPU seconds, peak RSS (the largest process, from `wait4`) and the peak of the whole process tree
(sampled), the stage times the CLI reports, the floor and the ratios to it; across sizes, the growth
exponent (1.0 is linear in deploys).
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

SIZES = (20_000, 100_000, 300_000, 1_000_000)
SIZES_ENV, WORLDS_ENV = "KARMA_BENCH_SCALE_SIZES", "KARMA_BENCH_SCALE_WORLDS"
TARGETS = {"ratio_to_floor": 1.5, "peak_rss_gib": 4.0}  # at 1M deploys (issue 11)
STAGE = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s+(.*?)…$")


def sizes() -> list[int]:
    text = os.environ.get(SIZES_ENV, "").strip()
    if not text:
        return list(SIZES)
    try:
        return [int(float(part)) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise ValueError(f"{SIZES_ENV}={text!r}: expected deploy counts separated by commas") from exc


def world_config(deploys: int):
    """A simulation of about `deploys` deploys: the default world's 180 days, components in proportion."""
    from karma_pipelines.simulator.sizing import config_for_deploys

    return config_for_deploys(deploys)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "karma_pipelines.apps.cli", *args]


def measured(command: list[str], env: dict | None = None) -> dict:
    """Run `command` as a child; its wall and CPU seconds, its peak RSS (the largest process of its tree,
    from `wait4`), the peak sum of its tree's RSS (sampled every 0.2 s), stdout and stderr."""
    import psutil

    out_file, err_file = (Path(os.environ.get("TMPDIR", "/tmp")) / f"scale-{os.getpid()}-{n}" for n in "oe")
    start = time.perf_counter()
    with out_file.open("w") as out, err_file.open("w") as err:
        proc = subprocess.Popen(command, stdout=out, stderr=err, env={**os.environ, **(env or {})})
        tree_peak, done = [0], threading.Event()

        def sample() -> None:
            root = psutil.Process(proc.pid)
            while not done.wait(0.2):
                try:
                    members = [root, *root.children(recursive=True)]
                    tree_peak[0] = max(tree_peak[0], sum(_rss(p) for p in members))
                except psutil.Error:
                    return

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        done.set()
        sampler.join()
    wall = time.perf_counter() - start
    stdout, stderr = out_file.read_text(), err_file.read_text()
    out_file.unlink()
    err_file.unlink()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {proc.returncode}: {stderr[-2000:]}")
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),  # KiB on Linux
        "tree_peak_rss_mib": round(tree_peak[0] / 2**20, 1),
        "stdout": stdout,
        "stderr": stderr,
    }


def _rss(process) -> int:
    try:
        return process.memory_info().rss
    except Exception:  # gone between listing and reading
        return 0


def stage_seconds(stderr: str) -> dict[str, float]:
    """Seconds of each stage the CLI's progress lines report (`  12.3s  stage…`): from its line to the
    next stage's, the last to the last line."""
    marks = []
    for line in stderr.splitlines():
        m = STAGE.match(line)
        if m and not m.group(2).startswith("… still"):
            marks.append((float(m.group(1)), m.group(2)))
    times = [float(m.group(1)) for line in stderr.splitlines() if (m := re.match(r"^\s*(\d+\.\d+)s", line))]
    ends = [t for t, _ in marks[1:]] + [max(times, default=0.0)]
    return {name: round(end - begin, 2) for (begin, name), end in zip(marks, ends, strict=True)}


def ensure_world(root: Path, deploys: int) -> dict:
    """The world of about `deploys` deploys under `root` (simulated in a child unless already there)."""
    world = root / f"world_{deploys}"
    if (world / "world.json").exists():
        return {"reused": str(world), **_world_counts(world)}
    config = world_config(deploys)
    size = ("--seed", str(config.seed), "--components", str(config.components), "--days", str(config.days))
    run = measured(_cli("simulate", "--out", str(world), *size))
    summary = json.loads(run["stdout"])
    return {
        "simulate_wall_s": run["wall_s"],
        "simulate_cpu_s": run["cpu_s"],
        "simulate_peak_rss_mib": run["peak_rss_mib"],
        **_world_counts(world, summary),
    }


def _world_counts(world: Path, summary: dict | None = None) -> dict:
    summary = summary or json.loads((world / "world.json").read_text())
    return {k: summary[k] for k in ("components", "days", "deploys") if k in summary}


def floor(rows_file: Path) -> dict:
    """In this process: LightGBM trained alone (the spec's parameters and early stopping, no candidates,
    one thread) on the training rows the backtest wrote (`backtest --training-rows`): the same matrix,
    split into fit and validation tail as the backtest splits it."""
    import pandas as pd

    from karma_pipelines.bench.common import with_changes
    from karma_pipelines.training.rollback_forecaster import TIME, fit_with_selection
    from karma_pipelines.training.spec import load_spec
    from karma_pipelines.training.split import validation_tail

    spec = load_spec("rollback_forecaster")
    train = pd.read_parquet(rows_file)
    fit, valid = validation_tail(train, TIME, spec.validation_fraction)
    alone = with_changes(spec, candidates=[])
    wall, cpu = time.perf_counter(), time.process_time()
    booster, _ = fit_with_selection(fit, valid, alone, dask_scheduler="")  # "": in this process
    return {
        "floor_wall_s": round(time.perf_counter() - wall, 2),
        "floor_cpu_s": round(time.process_time() - cpu, 2),
        "floor_rows": len(fit),
        "floor_features": len(spec.features),
        "floor_rounds": int(booster.current_iteration()),
        "num_threads": int(spec.params.get("num_threads", 0)),
    }


def bench_size(root: Path, deploys: int) -> dict:
    world = ensure_world(root, deploys)
    path, home = root / f"world_{deploys}", root / f"home_{deploys}"
    home.mkdir(exist_ok=True)
    rows = home / "training_rows.parquet"
    run = measured(
        _cli("backtest", "--events", str(path), "--home", str(home), "--json", "--training-rows", str(rows)),
        env={"KARMA_PROGRESS": "1"},
    )
    report = json.loads(run["stdout"])
    floor_run = measured([sys.executable, "-m", "karma_pipelines.bench.scale", "--floor", str(rows)])
    alone = json.loads(floor_run["stdout"])
    return {
        "world": world,
        "deploys": report["counts"]["deploys"],
        "backtest_wall_s": run["wall_s"],
        "backtest_cpu_s": run["cpu_s"],
        "peak_rss_mib": run["peak_rss_mib"],
        "tree_peak_rss_mib": run["tree_peak_rss_mib"],
        "stages_s": stage_seconds(run["stderr"]),
        **alone,
        "ratio_wall": round(run["wall_s"] / alone["floor_wall_s"], 2),
        "ratio_cpu": round(run["cpu_s"] / alone["floor_cpu_s"], 2),
        "roc_auc": round(report["model"]["roc_auc"], 4),
        "oracle_roc_auc": round(report["oracle"]["roc_auc"], 4) if "oracle" in report else None,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def growth(curve: dict[int, dict]) -> dict:
    """Between consecutive sizes, the exponent k of time ∝ deploys^k (1.0: linear), by wall and CPU."""
    out = {}
    points = sorted(curve.values(), key=lambda r: r["deploys"])
    for a, b in zip(points, points[1:], strict=False):
        scale = math.log(b["deploys"] / a["deploys"])
        out[f"{a['deploys']}->{b['deploys']}"] = {
            "wall": round(math.log(b["backtest_wall_s"] / a["backtest_wall_s"]) / scale, 2),
            "cpu": round(math.log(b["backtest_cpu_s"] / a["backtest_cpu_s"]) / scale, 2),
            "peak_rss": round(math.log(b["peak_rss_mib"] / a["peak_rss_mib"]) / scale, 2),
        }
    return out


def bench_scale(tmp: Path) -> dict:
    root = Path(os.environ.get(WORLDS_ENV) or tmp / "scale")
    root.mkdir(parents=True, exist_ok=True)
    curve = {}
    for deploys in sizes():
        curve[deploys] = bench_size(root, deploys)
        print(f"  scale {deploys:>9,}: {json.dumps(curve[deploys])}", file=sys.stderr, flush=True)
    r: dict = {f"{n:,} deploys": figures for n, figures in curve.items()}
    r["growth exponent (1.0 = linear)"] = growth(curve)
    r["targets (1M deploys)"] = TARGETS
    r["cpus"] = os.cpu_count()
    return r


if __name__ == "__main__":  # the floor's child: python -m karma_pipelines.bench.scale --floor ROWS.parquet
    if len(sys.argv) != 3 or sys.argv[1] != "--floor":
        sys.exit("usage: python -m karma_pipelines.bench.scale --floor TRAINING_ROWS.parquet")
    print(json.dumps(floor(Path(sys.argv[2]))))
