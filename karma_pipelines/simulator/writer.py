"""Writes a simulated world to disk in the layout of assets/schemas/event_log.md."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from karma_pipelines.simulator.clock import Clock
from karma_pipelines.simulator.history import History
from karma_pipelines.simulator.malformed import late_moves, move_late, plant
from karma_pipelines.simulator.spool import DeploySpool, EventSpool, Spool

GENERATOR = "karma_pipelines.simulator/1"


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def write_events(
    rng: np.random.Generator, out: Path, spool: EventSpool, clock: Clock, seed: int
) -> dict[str, int]:
    """One JSONL file per UTC day: the spooled real events in time order (a few late), malformed
    extras; one day in memory at a time."""
    names = sorted(spool.counts)
    moves = {name: late_moves(rng, spool.counts[name]) for name in names}
    folder = out / "events"
    folder.mkdir(parents=True, exist_ok=True)
    planted: list[tuple[str, int, str]] = []
    n_made = 0
    for name in names:
        lines, rows, n_made = plant(rng, name, move_late(spool.lines(name), moves[name]), clock, seed, n_made)
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
        planted += rows
    _write_csv(out / "ground_truth" / "malformed.csv", ["file", "line", "kind"], [list(r) for r in planted])
    late = sum(len(m) for m in moves.values())
    return {
        "events": sum(spool.counts.values()),
        "malformed": len(planted),
        "late": late,
        "files": len(names),
    }


def write_configs(out: Path, history: History) -> int:
    """Each component's latest config, at `configs/iac/<env>/<type>/<nickname>/config.json`."""
    n = 0
    for key, comp in sorted(history.comps.items()):
        config = history.state.configs.get(key) or history.state.last_config.get(key)
        if config is None:
            continue
        path = out / "configs" / "iac" / comp.env / comp.type / comp.nickname / "config.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        n += 1
    return n


def write_truth(out: Path, history: History, deploys: DeploySpool) -> int:
    """deploys.csv (spooled while the history ran) and config_mistakes.csv; returns the number of
    config mistakes."""
    deploys.close()
    (out / "ground_truth").mkdir(parents=True, exist_ok=True)
    shutil.move(deploys.path, out / "ground_truth" / "deploys.csv")
    mistakes = [
        [key, field, kind, deploy_id]
        for key in sorted(history.state.introduced)
        for (field, kind), deploy_id in sorted(history.state.introduced[key].items())
    ]
    _write_csv(
        out / "ground_truth" / "config_mistakes.csv",
        ["component", "field", "kind", "introduced_by"],
        mistakes,
    )
    return len(mistakes)


_WORLD_PARTS = ("events", "configs", "ground_truth", "world.json")


def check_replaceable(out: Path) -> None:
    """Raise ValueError unless `out` may receive a simulated world: a new or empty-of-world folder, or
    one the simulator wrote (its `world.json` says so). Another folder's `events/`, `configs/` and
    `ground_truth/` are never replaced."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: a file, not a folder for a simulated world")
    present = [p for p in _WORLD_PARTS if (out / p).exists()]
    if not present:
        return
    try:
        generator = json.loads((out / "world.json").read_text(encoding="utf-8")).get("generator", "")
    except (OSError, ValueError, AttributeError):
        generator = ""
    if not str(generator).startswith(GENERATOR.split("/")[0] + "/"):
        raise ValueError(
            f"{out}: holds {', '.join(present)} but is not a world written by the simulator "
            f"(its world.json has no generator {GENERATOR!r}): refusing to replace them; "
            "choose an empty or new folder"
        )


def write_world(
    rng: np.random.Generator, out: Path, history: History, spool: Spool, clock: Clock, seed: int
) -> dict[str, Any]:
    """Write every file of the world from the history and its spool (replacing an earlier simulated
    world there); returns the summary."""
    check_replaceable(out)
    for sub in ("events", "configs", "ground_truth"):
        shutil.rmtree(out / sub, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    counts = write_events(rng, out, spool.events, clock, seed)
    n_configs = write_configs(out, history)
    n_mistakes = write_truth(out, history, spool.deploys)
    meta = {
        "seed": seed,
        "components": len(history.comps),
        "days": clock.days,
        "start": clock.iso(0),
        "end": clock.iso(clock.end),
        "generator": GENERATOR,
    }
    (out / "world.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    deploys = history.deploys
    return {
        "out": str(out),
        **meta,
        "deploys": deploys,
        "rollbacks": history.rollbacks,
        "rollback_rate": round(history.rollbacks / deploys, 4) if deploys else 0.0,
        "events": counts["events"],
        "malformed": counts["malformed"],
        "late_events": counts["late"],
        "files": counts["files"],
        "configs": n_configs,
        "config_mistakes": n_mistakes,
    }
