"""Promotion strategies against the simulator's truth (`python -m karma_pipelines.bench strategies`):
worlds with promotion habits over several seeds, the estimates (from the event log only) beside the
planted truth, interval coverage and ranking agreement."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

from karma_pipelines.contracts.promotion_strategies import BASELINE, OUTCOMES
from karma_pipelines.simulator import SimulationConfig, simulate_world

SEEDS = tuple(range(1, 11))
HORIZON = pd.Timedelta(days=7)


def truth_of(world: Path) -> pd.DataFrame:
    """The planted truth per strategy (`ground_truth/promotion_strategies.csv`), indexed by strategy."""
    return pd.read_csv(Path(world) / "ground_truth" / "promotion_strategies.csv").set_index("strategy")


def judge(table: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """The estimate table with the truth beside it: `truth`, `true_effect` (against the baseline),
    `covered` (the effect's interval holds the true effect) and `value_covered`."""
    out = table.copy()
    out["truth"] = [truth.loc[s, o] for o, s in zip(out["outcome"], out["strategy"], strict=True)]
    out["true_effect"] = out["truth"] - out["outcome"].map(lambda o: truth.loc[BASELINE, o])
    effect = out["true_effect"]
    out["covered"] = (out["effect_ci_low"] <= effect) & (effect <= out["effect_ci_high"])
    out["value_covered"] = (out["ci_low"] <= out["truth"]) & (out["truth"] <= out["ci_high"])
    return out


def rankings(judged: pd.DataFrame) -> dict[str, dict]:
    """Per outcome: the estimated and true orders (best first), whether they match, Kendall's tau."""
    out = {}
    for outcome, part in judged.groupby("outcome", sort=False):
        estimated = list(part.sort_values("value")["strategy"])
        true = list(part.sort_values("truth")["strategy"])
        tau = kendalltau(part["value"], part["truth"]).statistic
        out[outcome] = {"estimated": estimated, "true": true, "match": estimated == true, "tau": float(tau)}
    return out


def evaluate_world(world: Path, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """Read a world down the one path, estimate the strategies and judge them against its truth."""
    from karma_pipelines.pipeline.tables import load_tables
    from karma_pipelines.sources.open import open_source
    from karma_pipelines.strategies.report import compute

    tables = load_tables(open_source("events", str(world)), HORIZON)
    result = compute(tables.clean_events, tables.deploy_records, tables.world.end, seed=seed)
    return judge(result.estimates, truth_of(world)), {**result.numbers, "recommended": result.recommended}


def chosen_seeds(spec: str) -> tuple[int, ...]:
    """`""`: `SEEDS`; `"n"`: its first n; `"a-b"`: the seeds a to b (more seeds than the default)."""
    if "-" in spec:
        first, last = (int(part) for part in spec.split("-", 1))
        return tuple(range(first, last + 1))
    return SEEDS[: int(spec)] if spec else SEEDS


def bench_strategies(tmp: Path) -> dict:
    """Every seed of `SEEDS` (or `KARMA_BENCH_SEEDS=n`, the first n; `=a-b`, seeds a to b): estimates
    against truth."""
    seeds = chosen_seeds(os.environ.get("KARMA_BENCH_SEEDS", ""))
    judged, per_seed = [], {}
    for seed in seeds:
        world = Path(tmp) / f"habits_{seed}"
        start = time.perf_counter()
        simulate_world(world, SimulationConfig(seed=seed, promotion_habits=True))
        table, numbers = evaluate_world(world, seed)
        table["seed"] = seed
        judged.append(table)
        ranks = rankings(table)
        effects = table[table["strategy"] != BASELINE]
        per_seed[f"seed_{seed}"] = {
            "promotions": numbers.get("promotions_evaluated"),
            "covered": f"{int(effects['covered'].sum())}/{len(effects)}",
            "rank_match": {o: r["match"] for o, r in ranks.items()},
            "recommended": numbers.get("recommended"),
            "seconds": round(time.perf_counter() - start, 1),
        }
        print(f"  seed {seed}: {per_seed[f'seed_{seed}']}", file=sys.stderr, flush=True)  # progress
    allj = pd.concat(judged, ignore_index=True)
    effects = allj[allj["strategy"] != BASELINE]
    out: dict = {"seeds": len(seeds), **per_seed}
    for outcome in OUTCOMES:
        part = allj[allj["outcome"] == outcome]
        for strategy, rows in part.groupby("strategy", sort=False):
            out[f"{outcome}:{strategy}"] = {
                "truth_mean": round(float(rows["truth"].mean()), 4),
                "estimate_mean": round(float(rows["value"].mean()), 4),
                "naive_mean": round(float(rows["naive"].mean()), 4),
                "true_effect_mean": round(float(rows["true_effect"].mean()), 4),
                "effect_mean": round(float(rows["effect"].mean()), 4),
                "effect_covered": f"{int(rows['covered'].sum())}/{len(rows)}",
            }
        eff = effects[effects["outcome"] == outcome]
        ranks = [rankings(t[t["outcome"] == outcome])[outcome] for t in judged]
        out[f"{outcome}:coverage"] = round(float(eff["covered"].mean()), 3)
        out[f"{outcome}:rank_match_share"] = round(float(np.mean([r["match"] for r in ranks])), 3)
        out[f"{outcome}:kendall_tau_mean"] = round(float(np.mean([r["tau"] for r in ranks])), 3)
    out["effect_coverage_all"] = round(float(effects["covered"].mean()), 3)
    out["effects_judged"] = int(len(effects))
    best = {s: truth_of(Path(tmp) / f"habits_{s}")["rollback_rate"].idxmin() for s in seeds}
    hits = sum(per_seed[f"seed_{s}"]["recommended"] == best[s] for s in seeds)
    out["recommended_is_true_best"] = f"{hits}/{len(seeds)}"
    return out
