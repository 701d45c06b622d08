"""Anomalous connections and structural changes planted in a simulated world, with ground truth.

A world option (`SimulationConfig.graph_anomalies`: how many; 0, the default, plants none and leaves
the world byte-identical). Each plant is an ordinary change request and deploy in the event log, made
in the world's last PLANT_WEEKS weeks; what was planted is written to
`ground_truth/graph_anomalies.csv` (never to the event log): one row per planted edge, with the
plant's id and kind, so that a detector's findings can be matched to it.

Kinds, in turn:
- `cross_env_read`: a dev or staging component reads the runtime of a prod component
  (`<type>_runtime_path`).
- `novel_dependency`: a component depends (`src_type` / `src_nickname`) on a type that no component of
  its type depends on, in another environment.
- `cycle`: a producer reads the runtime of one of its own dependents.
- `fan_in_burst`: several components of one environment are re-pointed, within a day, to one producer
  of their type that had few dependents (its fan-in at least triples).
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np

from karma_pipelines.simulator.changes import Proposal
from karma_pipelines.simulator.clock import DAY, HOUR
from karma_pipelines.simulator.edits import change_between
from karma_pipelines.simulator.fields import runtime_path

KINDS = ("cross_env_read", "novel_dependency", "cycle", "fan_in_burst")
PLANT_WEEKS = 6
TRUTH_FILE = "graph_anomalies.csv"
TRUTH_HEADER = ["plant_id", "kind", "component", "other", "deployed_at"]


def schedule(history, n: int, seed: int) -> None:
    """Queue `n` plants at work hours of the last PLANT_WEEKS weeks (their own random stream)."""
    rng = np.random.default_rng([seed, 12])
    end = history.clock.end
    first = max(0, end - PLANT_WEEKS * 7 * DAY)
    history.graph_plants = []  # truth rows, filled as the plants happen
    for i in range(n):
        day = int(rng.integers(first // DAY, max(first // DAY + 1, end // DAY - 1)))
        t = day * DAY + int(rng.integers(9 * HOUR, 17 * HOUR))
        history.push(t, "call", _plant, f"plant-{i:03d}", KINDS[i % len(KINDS)], int(rng.integers(2**31)))


def _live(history, t: int) -> dict[str, dict]:
    st = history.state
    return {k: c for k, c in st.configs.items() if c is not None and st.locked(k, t) is None}


def _deploy(history, t: int, key: str, config: dict, message: str) -> None:
    """The plant as an ordinary change request and deploy (the log cannot tell it from another)."""
    from karma_pipelines.simulator import notices

    st, c = history.state, history.comps[key]
    current = st.configs[key]
    prop = Proposal(config, change_between(current, config), "update", message)
    user = history.picker.pick(history.rng, t, c.project)
    change_id = history.ids.new("chg")
    st.last_change[key] = change_id
    notices.request(history.log, t, c, change_id, prop, user.handle, user.source)
    affected = st.affected(key)
    notices.result(history.log, t + 5, c, change_id, prop, affected, "applied", user.source)
    st.lock(key, t + 61)
    history.push(t + 60, "deploy", key, prop, "update", user.handle, change_id, user.source, affected)


def _truth(history, plant_id, kind, component, other, t) -> None:
    history.graph_plants.append([plant_id, kind, component, other, history.clock.iso(t + 60)])


def _plant(history, t: int, plant_id: str, kind: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    live = _live(history, t)
    comps = history.comps
    keys = sorted(live)
    if not keys:
        return
    if kind == "cross_env_read":
        readers = [k for k in keys if comps[k].env != "prod"]
        prods = [k for k in keys if comps[k].env == "prod"]
        if readers and prods:
            a, b = readers[rng.integers(len(readers))], prods[rng.integers(len(prods))]
            config = copy.deepcopy(live[a])
            config[f"{comps[b].type.replace('-', '_')}_runtime_path"] = runtime_path(b)
            _deploy(history, t, a, config, "read the shared runtime")
            _truth(history, plant_id, kind, a, b, t)
    elif kind == "novel_dependency":
        used = {(comps[k].type, comps[r].type) for k in live for r in history.state.upstream.get(k, ())}
        pairs = [
            (a, b)
            for a in keys
            for b in keys
            if comps[a].env != comps[b].env and (comps[a].type, comps[b].type) not in used
        ]
        if pairs:
            a, b = pairs[rng.integers(len(pairs))]
            config = copy.deepcopy(live[a])
            config["upstream"] = {"src_type": comps[b].type, "src_nickname": b.partition("/")[2]}
            _deploy(history, t, a, config, "wire the upstream source")
            _truth(history, plant_id, kind, a, b, t)
    elif kind == "cycle":
        down = history.state.downstream
        up = history.state.upstream
        pairs = [
            (a, b) for a in keys for b in sorted(down.get(a, ())) if b in live and b not in up.get(a, ())
        ]
        if pairs:
            a, b = pairs[rng.integers(len(pairs))]
            config = copy.deepcopy(live[a])
            config[f"{comps[b].type.replace('-', '_')}_runtime_path"] = runtime_path(b)
            _deploy(history, t, a, config, "read the consumer's outputs")
            _truth(history, plant_id, kind, a, b, t)
    elif kind == "fan_in_burst":
        _fan_in_burst(history, t, plant_id, live, rng)


def _fan_in_burst(history, t, plant_id, live, rng) -> None:
    """Re-point `vpc_nickname` of same-environment components to the vpc with the fewest readers, so
    that its fan-in at least triples (2 * before + 2 of them, 3 to 8)."""
    comps, down = history.comps, history.state.downstream
    vpcs = [k for k in sorted(live) if comps[k].type == "vpc"]
    for env in rng.permutation(sorted({comps[k].env for k in vpcs})):
        here = sorted((len(down.get(v, ())), v) for v in vpcs if comps[v].env == env)
        if len(here) < 2:
            continue
        before, target = here[0]
        readers = [
            k
            for k in sorted(live)
            if comps[k].env == env
            and isinstance(live[k].get("vpc_nickname"), str)
            and k not in down.get(target, ())
        ]
        movers = [readers[i] for i in rng.permutation(len(readers))][: min(8, 2 * before + 2)]
        if len(movers) < max(3, 2 * before + 2):
            continue
        for i, k in enumerate(movers):
            config = copy.deepcopy(live[k])
            config["vpc_nickname"] = target.partition("/")[2]
            at = t + i * (2 * HOUR // len(movers))
            _deploy(history, at, k, config, "move to the new network")
            _truth(history, plant_id, "fan_in_burst", target, k, at)
        return


def write_truth(out: Path, history) -> int:
    """ground_truth/graph_anomalies.csv (only for a world with plants); returns the rows written."""
    import csv

    rows = getattr(history, "graph_plants", None)
    if rows is None:
        return 0
    path = Path(out) / "ground_truth" / TRUTH_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(TRUTH_HEADER)
        writer.writerows(rows)
    return len(rows)
