"""Promotion habits (a world option, off by default): how engineers promote staging -> prod, and the
production health each strategy leads to, planted so that the simulator knows its true effect.

Each engineer has a `care` trait. When a staging deploy succeeds, mostly (`P_PROMOTE_PROD`) its
author promotes it with a habit drawn from a mixture that depends on `care` and on the prod
component's dependents: careful engineers soak or wait for clean streaks, careless ones promote at
once or on Friday evening. The promotion's strategy class is then read from what was done
(`contracts.promotion_strategies.classify`), and that class sets, for the prod deploy:
- its rollback probability, `sigmoid(A0 - SKILL * care + A_DEP * dependents + DELTA[class])`;
- its time to restore, if it is rolled back: `exp(mu + SIGMA_RESTORE * clip(z, -3, 3))` hours, `z`
  standard normal and `mu = MU_RESTORE + log(RESTORE[class]) + 0.25 * dependents - 0.15 * care`;
  the clipped normal is symmetric, so `mu` is exactly its mean log hours (the estimand is their
  geometric mean, `contracts.promotion_strategies`), and bounded (within `ELIGIBLE_DAYS` for any
  care above -8: every rollback of an evaluated promotion is seen);
- extra drift on the component, `DRIFT[class] * exp(-0.4 * care)` per day over the next
  `FOLLOW_UP_DAYS`, until its next promotion replaces the config.
`care` is a trait of the author (a covariate the estimator can use as the author's identity), so the
naive comparison of strategies is confounded and an off-policy method is needed. The truth is written
to `ground_truth/promotions.csv` (per promotion, the expected outcome under every strategy) and
`ground_truth/promotion_strategies.csv` (per strategy, over the evaluated promotions).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np

from karma_pipelines.contracts.promotion_strategies import (
    CLEAN_STREAK,
    ELIGIBLE_DAYS,
    FOLLOW_UP_DAYS,
    MIN_EXPOSURE_DAYS,
    STRATEGIES,
    classify,
)
from karma_pipelines.simulator.clock import DAY, HOUR
from karma_pipelines.simulator.edits import apply_change
from karma_pipelines.simulator.state import DeployRecord

P_PROMOTE_PROD = 0.8  # more promotions than without habits (0.5): more to learn from
A0, SKILL, A_DEP = -1.9, 0.5, 0.6
DELTA = {"immediate": 0.0, "soak": -1.8, "clean_streak": -0.8, "friday_evening": 1.2, "batch": 0.6}
# time to restore, per class a factor on the geometric mean hours: a soaked change is understood and
# reverted at once, a Friday-evening one waits for the weekend, a batch has to be bisected. The spread
# (log-sd 0.5) is narrower than the usual rollback delay's (`risk.ROLLBACK_DELAYS`, log-sd 1.5): with
# a handful of rollbacks of a careful class per world, no estimator could order the classes on that one.
MU_RESTORE = 2.7  # log hours (the usual delay's mean log: a geometric mean of about 15 h)
SIGMA_RESTORE, CLIP_Z = 0.5, 3.0
RESTORE_DEP, RESTORE_CARE = 0.25, -0.15
RESTORE = {"immediate": 1.0, "soak": 0.3, "clean_streak": 0.55, "friday_evening": 2.9, "batch": 1.7}
DRIFT = {"immediate": 0.04, "soak": 0.0, "clean_streak": 0.02, "friday_evening": 0.07, "batch": 0.1}
# habit logits: (intercept, per unit of care, with many dependents)
HABITS = {
    "immediate": (0.6, -0.6, -0.4),
    "soak": (-0.7, 0.7, 0.6),
    "clean_streak": (-0.1, 0.4, 0.3),
    "friday_evening": (-0.4, -0.7, 0.0),
    "batch": (-0.3, 0.1, 0.0),
}
MANY_DEPENDENTS = 3


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


class PromotionHabits:
    """Hooked into `History`: plans staging -> prod promotions and plants their production health."""

    def __init__(self, history: Any, seed: int, base_drifts_per_day: float) -> None:
        self.h = history
        self.rng = np.random.default_rng([seed, 1313])  # its own stream: the habits' draws
        self.care = {u.handle: float(self.rng.normal()) for u in history.world.users}
        self.base_drift = base_drifts_per_day
        self.by_component: dict[str, list[DeployRecord]] = {}
        self._indexed = 0
        self.batches: dict[str, list[DeployRecord]] = {}  # staging component -> deploys waiting
        self.carried: dict[str, list[DeployRecord]] = {}  # merged source deploy id -> deploys
        self.generation: dict[str, int] = {}
        self.planted: dict[str, dict[str, Any]] = {}  # prod deploy id -> truth
        self.restore: dict[str, float] = {}

    # -- when and how to promote --------------------------------------------------------------
    def _working(self, t: int) -> int:
        """`t`, or the next weekday 09:00-16:00 UTC moment after it."""
        clock = self.h.clock
        if clock.weekday(t) < 5 and 9 <= clock.hour(t) < 16:
            return int(t)
        day = int(t) // DAY + (1 if clock.hour(t) >= 9 else 0)
        while clock.weekday(day * DAY) >= 5:
            day += 1
        return day * DAY + int(self.rng.integers(9 * HOUR, 16 * HOUR))

    def _next_weekday(self, t: int, weekdays: tuple[int, ...], lo: int, hi: int) -> int:
        day = int(t) // DAY
        while True:
            if self.h.clock.weekday(day * DAY) in weekdays:
                at = day * DAY + int(self.rng.integers(lo * HOUR, hi * HOUR))
                if at >= t:
                    return at
            day += 1

    def habit(self, author: str, dependents: bool) -> str:
        c = self.care.get(author, 0.0)
        logits = np.array([a + b * c + d * dependents for a, b, d in HABITS.values()])
        p = np.exp(logits - logits.max())
        return list(HABITS)[int(self.rng.choice(len(p), p=p / p.sum()))]

    def plan(self, rec: DeployRecord, targets: list[str]) -> None:
        """A succeeded staging deploy: maybe promote it to prod, with its author's habit."""
        if not targets or self.rng.random() >= P_PROMOTE_PROD:
            return
        dependents = len(self.h.state.affected(targets[0])) >= MANY_DEPENDENTS
        # a change of a component with a release train waiting goes with it, whoever made it
        habit = "batch" if self.batches.get(rec.component) else self.habit(rec.author, dependents)
        t = rec.t
        if habit == "immediate":
            at = self._working(t + int(self.rng.integers(1 * HOUR, 12 * HOUR)))
        elif habit == "soak":
            at = self._working(t + int(self.rng.integers(72 * HOUR, 120 * HOUR)))
        elif habit == "clean_streak":
            at = self._working(t + int(self.rng.integers(26 * HOUR, 50 * HOUR)))
        elif habit == "friday_evening":
            at = self._next_weekday(t + 2 * HOUR, (4,), 16, 22)
        else:  # batch: wait for the next Thursday release train, with whatever else is waiting
            waiting = self.batches.setdefault(rec.component, [])
            waiting.append(rec)
            if len(waiting) == 1:
                at = self._next_weekday(t + 48 * HOUR, (3,), 10, 15)
                self.h.push(at, "habit", "batch", rec.component, tuple(targets))
            return
        self.h.push(at, "habit", habit, rec, tuple(targets))

    def on(self, t: int, what: str, *payload: Any) -> None:
        """A habit's event (`History._on_habit`)."""
        if what == "drift":
            key, generation = payload
            if self.generation.get(key) == generation:
                self.h._on_drift(t, key)
            return
        if what == "batch":
            key, targets = payload
            live = [r for r in self.batches.pop(key, []) if r.rollback_at is None or r.rollback_at > t]
            if not live:
                return
            src = live[-1]
            if len(live) > 1:
                merged: dict[str, Any] = {}
                for r in live:
                    merged.update(r.change)
                src = DeployRecord(
                    src.deploy_id, src.component, src.t, src.author, src.change_id, live[0].before,
                    apply_change(live[0].before, merged), merged, src.action,
                    f"batch of {len(live)}: " + "; ".join(r.message for r in live), src.p_rollback,
                    src.causes, src.status,
                )  # fmt: skip
            self.carried[src.deploy_id] = live
            self.h._on_promote(t, src, targets)
            return
        src, targets = payload
        if what == "clean_streak" and self.streak(src, t) < CLEAN_STREAK:
            return  # not clean enough: this engineer does not promote it
        self.carried[src.deploy_id] = [src]
        self.h._on_promote(t, src, targets)

    def promotion_attrs(self, src: DeployRecord) -> dict[str, Any]:
        """Extra `promotion` attrs: every source deploy the promotion carries."""
        return {"from_deploy_ids": [r.deploy_id for r in self.carried.get(src.deploy_id, [src])]}

    def streak(self, src: DeployRecord, t: int) -> int:
        """Clean deploys in a row of the source component, ending with `src`, as known at `t`."""
        records = self.h.records
        for rec in records[self._indexed :]:
            self.by_component.setdefault(rec.component, []).append(rec)
        self._indexed = len(records)
        n = 0
        for rec in reversed(self.by_component.get(src.component, [])):
            if rec.t > src.t:
                continue
            if rec.status != "succeeded" or (rec.rollback_at is not None and rec.rollback_at < t):
                break
            n += 1
        return n

    # -- what the promotion does to production ------------------------------------------------
    def prod_deploy(self, deploy_id: str, key: str, td: int, promoted_from: str | None,
                    affected: list[str], p: float, causes: list[str]) -> tuple[float, list[str]]:  # fmt: skip
        """The planted rollback probability of a prod promotion; schedules its extra drift."""
        carried = self.carried.pop(promoted_from or "", None)
        if not carried:
            return p, causes
        clock, src = self.h.clock, carried[-1]
        soak = (td - src.t) / HOUR
        strategy = classify(clock.weekday(td), clock.hour(td), soak, len(carried), self.streak(src, td))
        care = self.care.get(src.author, 0.0)
        dependents = len(affected) >= MANY_DEPENDENTS
        eta = A0 - SKILL * care + A_DEP * dependents
        drift_scale = math.exp(-0.4 * care)
        mu = MU_RESTORE + RESTORE_DEP * dependents + RESTORE_CARE * care  # + log RESTORE[class]
        truth: dict[str, Any] = {
            "deploy_id": deploy_id, "component": key, "t": td, "strategy": strategy,
            "author": src.author, "dependents": dependents, "soak_hours": soak, "n_batched": len(carried),
        }  # fmt: skip
        for s in STRATEGIES:
            truth[f"rollback_{s}"] = _sigmoid(eta + DELTA[s])
            truth[f"restore_{s}"] = math.exp(mu) * RESTORE[s]  # geometric mean hours
            truth[f"drift_{s}"] = 7 * (self.base_drift + DRIFT[s] * drift_scale)
        self.planted[deploy_id] = truth
        self.restore[deploy_id] = mu + math.log(RESTORE[strategy])
        generation = self.generation.get(key, 0) + 1
        self.generation[key] = generation
        n = int(self.rng.poisson(DRIFT[strategy] * drift_scale * FOLLOW_UP_DAYS))
        for at in sorted(int(x) for x in self.rng.uniform(td + 1, td + FOLLOW_UP_DAYS * DAY, n)):
            self.h.push(at, "habit", "drift", key, generation)
        return truth[f"rollback_{strategy}"], [f"strategy_{strategy}"] + ["many_dependents"] * dependents

    def restore_delay(self, deploy_id: str, delay: int) -> int:
        """Seconds to the rollback of a rolled-back deploy: a planted promotion's own, else `delay`."""
        mu = self.restore.get(deploy_id)
        if mu is None:
            return delay
        z = float(np.clip(self.rng.normal(), -CLIP_Z, CLIP_Z))
        return int(math.exp(mu + SIGMA_RESTORE * z) * HOUR)

    # -- the truth ------------------------------------------------------------------------------
    def rows(self) -> list[dict[str, Any]]:
        """Every prod promotion with its truth, `eligible` and its drift window (`exposure_days`)."""
        end = self.h.clock.end
        rows = sorted(self.planted.values(), key=lambda r: (r["t"], r["deploy_id"]))
        following: dict[str, int] = {}
        for row in reversed(rows):
            nxt = following.get(row["component"], end)
            row["exposure_days"] = min(FOLLOW_UP_DAYS * DAY, nxt - row["t"]) / DAY
            following[row["component"]] = row["t"]
            row["eligible"] = row["t"] + ELIGIBLE_DAYS * DAY <= end
            row["drift_eligible"] = row["eligible"] and row["exposure_days"] >= MIN_EXPOSURE_DAYS
        return rows

    def summary(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Per strategy: the true mean outcomes had every evaluated promotion used it."""
        evaluated = [r for r in rows if r["eligible"]]
        drifting = [r for r in rows if r["drift_eligible"]]
        out = []
        for s in STRATEGIES:
            p = np.array([r[f"rollback_{s}"] for r in evaluated])
            log_restore = np.log([r[f"restore_{s}"] for r in evaluated])
            drift = np.array([r[f"drift_{s}"] for r in drifting])
            out.append({
                "strategy": s,
                "promotions": sum(r["strategy"] == s for r in evaluated),
                "rollback_rate": float(p.mean()) if len(p) else float("nan"),
                # the geometric mean over the rollbacks had every promotion used `s`
                "restore_hours": float(np.exp((p * log_restore).sum() / p.sum())) if len(p) else float("nan"),
                "drifts_per_week": float(drift.mean()) if len(drift) else float("nan"),
            })  # fmt: skip
        return out

    def write_truth(self, out: Path, clock: Any) -> int:
        rows = self.rows()
        folder = Path(out) / "ground_truth"
        folder.mkdir(parents=True, exist_ok=True)
        per = ["deploy_id", "component", "deployed_at", "strategy", "author", "dependents", "soak_hours",
               "n_batched", "eligible", "exposure_days", "drift_eligible"]  # fmt: skip
        per += [f"{k}_{s}" for k in ("rollback", "restore", "drift") for s in STRATEGIES]
        with (folder / "promotions.csv").open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, per, lineterminator="\n", extrasaction="ignore")
            writer.writeheader()
            for row in rows:
                writer.writerow({**row, "deployed_at": clock.iso(row["t"])} | _rounded(row))
        summary = self.summary(rows)
        with (folder / "promotion_strategies.csv").open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, list(summary[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(r | _rounded(r) for r in summary)
        return len(rows)


def _rounded(row: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 6) for k, v in row.items() if isinstance(v, float)}
