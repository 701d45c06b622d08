"""A world option (`SimulationConfig.twins`, default 0: the default world is unchanged): plant unhealthy
producers with healthy twins. Each planted producer (a staging/prod component that others read) is
rolled back, changed and drifting far more often than usual; its twin is a new component of the same
type, service shape, project and environment, with the same upstream, that nobody reads. The ground
truth (`ground_truth/planted_rewrites.csv`: consumer, from, to) lists the components that read a
planted producer at the end of the history: repointing each to the twin is the rewrite to find."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import numpy as np

from karma_pipelines.simulator.world import World, unique_name

ROLLBACK_FACTOR = 6.0  # the planted producer's rollback probability, times this (at most MAX_P)
MAX_P = 0.8
CHANGE_FACTOR = 2.5  # its rate of changes
DRIFT_FACTOR = 4.0  # its rate of drifts
TRUTH = "planted_rewrites.csv"


def plant_twins(rng: np.random.Generator, world: World, n: int) -> None:
    """Pick `n` producers read by at least one component (one per project and type where possible),
    make them unhealthy (`world.unhealthy`) and add a healthy twin of each (`world.planted`)."""
    readers: dict[str, int] = {}
    for c in world.components.values():
        for ptype, pnick in c.refs:
            readers[f"{ptype}/{pnick}"] = readers.get(f"{ptype}/{pnick}", 0) + 1
    pool = sorted(
        k for k, c in world.components.items() if readers.get(k) and c.env != "dev" and c.alias is None
    )
    picked: list[str] = []
    seen: set[tuple[str, str]] = set()
    for i in rng.permutation(len(pool)):
        c = world.components[pool[int(i)]]
        if (c.project, c.type) in seen:
            continue
        seen.add((c.project, c.type))
        picked.append(c.key)
        if len(picked) == n:
            break
    for key in picked:
        c = world.components[key]
        world.components[key] = dataclasses.replace(c, weight=c.weight * CHANGE_FACTOR)
        world.unhealthy[key] = ROLLBACK_FACTOR
        service = unique_name(c.service, {x.service for x in world.components.values()})  # nothing tells
        twin = dataclasses.replace(
            c, key=f"{c.type}/{service}-{c.env}", nickname=f"{service}-{c.env}", service=service,
            created_at=c.created_at + 3600,
        )  # fmt: skip
        world.components[twin.key] = twin
        world.instances[(f"{twin.type}/{service}", twin.env)] = [twin.key]
        world.planted.append((key, twin.key))


def unhealthy_p(world: World, key: str, p: float) -> float:
    """A deploy's rollback probability, raised for a planted unhealthy producer."""
    factor = world.unhealthy.get(key)
    return min(MAX_P, p * factor) if factor else p


def drift_factor(world: World, key: str) -> float:
    return DRIFT_FACTOR if key in world.unhealthy else 1.0


def write_planted(out: Path, world: World, downstream: dict[str, set[str]]) -> int:
    """`ground_truth/planted_rewrites.csv` (only when twins were planted); returns its rows."""
    if not world.planted:
        return 0
    rows = [
        [consumer, producer, twin]
        for producer, twin in world.planted
        for consumer in sorted(downstream.get(producer, ()))
        if consumer != twin
    ]
    path = out / "ground_truth" / TRUTH
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["consumer", "from", "to"])
        writer.writerows(rows)
    return len(rows)
