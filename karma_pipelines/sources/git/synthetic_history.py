"""The state of a synthetic Git history while it is written (see `synthetic_repo`): components, the
edits engineers make to their configs, what lands on `main` and which change gets rolled back."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from karma_pipelines.contracts.config_fields import flatten
from karma_pipelines.simulator.fast_import import FastImport
from karma_pipelines.simulator.fields import ENV_VARS, FOREIGN_FIELDS, GENERATORS
from karma_pipelines.simulator.people import HANDLES

START = pd.Timestamp("2024-01-08 09:00", tz="UTC")
PEOPLE = tuple((h.title(), f"{h}@example.com") for h in HANDLES[:12]) + (("deploy-bot", "bot@example.com"),)
NEWCOMERS = frozenset({9, 10, 11})  # indexes into PEOPLE: the authors who break things more often
HOUSE_TAGS = ("CostCenter", "Team", "DataClass", "Tier")
KEEP = ("tags", "vpc_nickname", "cluster_nickname")  # never dropped by an edit


def edit(config: dict, rng: np.random.Generator) -> tuple[dict, str]:
    """A copy of `config` with one to three small changes, and a commit subject for them."""
    new = json.loads(json.dumps(config))
    said = []
    for _ in range(int(rng.choice([1, 1, 1, 2, 3]))):
        leaves = _leaves(new)
        node, key, value, path = leaves[int(rng.integers(len(leaves)))]
        roll = rng.random()
        tune = GENERATORS.get(key) or ENV_VARS.get(key)
        if tune is not None and roll < 0.7:
            node[key] = tune(rng, value)
            said.append(f"tune {path}")
        elif isinstance(value, bool):
            node[key] = not value
            said.append(f"{'enable' if not value else 'disable'} {path}")
        elif roll < 0.25 and len(node) > 2 and key not in KEEP:
            del node[key]
            said.append(f"drop {path}")
        elif roll < 0.6:
            tags = new.setdefault("tags", {})
            name = str(rng.choice(HOUSE_TAGS))
            tags[name] = f"{name.lower()}-{int(rng.integers(9))}"
            said.append(f"tag {name}")
        else:  # a field some other type reads, pasted in
            name = str(rng.choice(sorted(FOREIGN_FIELDS)))
            new[name] = FOREIGN_FIELDS[name]
            said.append(f"add {name}")
    return new, ", ".join(dict.fromkeys(said))


def _leaves(config: dict, path: tuple[str, ...] = ()) -> list[tuple[dict, str, object, str]]:
    """(parent, key, value, dotted path) of every leaf value."""
    out = []
    for k, v in config.items():
        if isinstance(v, dict) and v:
            out += _leaves(v, (*path, k))
        else:
            out.append((config, k, v, ".".join((*path, k))))
    return out


def text(config: dict) -> bytes:
    return (json.dumps(config, indent=2) + "\n").encode()


def terraform_tidy(rng: np.random.Generator, i: int) -> bytes:
    return (
        'resource "aws_cloudwatch_log_group" "this" {\n'
        f'  name              = "/karma/{i}"\n'
        f"  retention_in_days = {int(rng.choice([7, 14, 30]))}\n"
        "  tags              = local.config.tags\n}\n"
    ).encode()


@dataclass
class Comp:
    env: str
    ctype: str
    nick: str
    config: dict
    last_mark: int = 0
    before: bytes | None = None  # the file before the last deploy (None: created, or was broken)
    broken: bool = False
    alive: bool = True

    @property
    def key(self) -> str:
        return f"{self.ctype}/{self.nick}"

    @property
    def path(self) -> str:
        return f"iac/{self.env}/{self.ctype}/{self.nick}/config.json"

    def deployed(self, mark: int, before: bytes | None) -> None:
        self.last_mark, self.before = mark, before


class History:
    """The generator's state: what exists, what was recently changed, what was rolled back."""

    def __init__(self, path: Path, rng: np.random.Generator):
        self.rng = rng
        self.writer = FastImport(path, path / ".git" / "synthetic-marks")
        self.now = int(START.timestamp())
        self.pr = 100
        self.alive: list[Comp] = []
        self.recent: list[tuple[int, str, list[Comp]]] = []  # updates: (mark, subject, comps)
        self.reverts: list[tuple[int, str, list[Comp]]] = []  # git-style reverts, same shape
        self.planted: list[tuple[int, int, str, str]] = []  # (rollback, reverted, component, kind)
        self.reapplied: list[tuple[int, int, str]] = []  # (original, re-applying revert, component)
        self.landed: dict[int, tuple[int, int]] = {}  # mark -> (commit time, author index)

    def land(self, message: str, files: dict[str, bytes | None], pr_merge: bool = False) -> tuple[int, str]:
        """Commit on main (directly, or as a pull request's merge); (mark, first-parent subject)."""
        rng, w = self.rng, self.writer
        self.now += int(rng.exponential(3600 * 1.4)) + 60
        author = int(self.rng.integers(len(PEOPLE)))
        who = PEOPLE[author]
        if not pr_merge or w.tip is None:
            w.tip = w.commit("refs/heads/main", self.now, who, message, files, parent=w.tip)
            self.landed[w.tip] = (self.now, author)
            return w.tip, message.split("\n", 1)[0]
        self.pr += 1
        side = w.commit(f"refs/heads/pr/{self.pr}", self.now - 900, who, message, files, parent=w.tip)
        subject = f"Merge pull request #{self.pr} from {who[1].split('@')[0]}/change-{self.pr}"
        w.tip = w.commit(
            "refs/heads/main", self.now, PEOPLE[-1], f"{subject}\n\n{message}", files, w.tip, side
        )
        self.landed[w.tip] = (self.now, author)
        return w.tip, subject

    def rollback(self, rate_roll: float) -> bool:
        """Roll back a recent change (or re-apply a reverted one); False when there is none to take."""
        rng = self.rng

        def current(mark: int, group: list[Comp]) -> bool:
            return all(c.alive and not c.broken and c.last_mark == mark and c.before for c in group)

        if self.reverts and rate_roll < 0.15:
            mark, subject, group = self.reverts[-1]
            if current(mark, group):
                sha = self.writer.sha(mark)
                originals = {c: rv for rb, rv, c, _ in self.planted if rb == mark}
                message = f'Revert "{subject}"\n\nThis reverts commit {sha}.\n'
                new, _ = self._restore(group, message, mark, "revert")
                self.reapplied += [(originals[c.key], new, c.key) for c in group]
                self.reverts.pop()
                return True
        candidates = [r for r in self.recent[-12:] if current(r[0], r[2])]
        if not candidates:
            return False
        # Risky changes are the ones that get rolled back: big, off-hours, or by a newcomer.
        weights = np.array([self._risk(m, g) for m, _, g in candidates])
        mark, subject, group = candidates[int(rng.choice(len(candidates), p=weights / weights.sum()))]
        self.recent = [r for r in self.recent if r[0] != mark]
        kind = str(rng.choice(["revert", "revert_subject", "restore"]))
        if kind == "revert":
            sha = self.writer.sha(mark)
            if rng.random() < 0.5:
                message = f'Revert "{subject}"\n\nThis reverts commit {sha}.\n'
            else:
                message = (
                    f"Roll back {group[0].key}: errors after deploy\n\nThis reverts commit {sha[:10]}.\n"
                )
        elif kind == "revert_subject":
            message = f'Revert "{subject}"'
        else:
            message = f"{group[0].key}: restore previous settings"
        new, new_subject = self._restore(group, message, mark, kind)
        if kind == "revert":
            self.reverts.append((new, new_subject, group))
            del self.reverts[:-5]
        return True

    def _risk(self, mark: int, group: list[Comp]) -> float:
        """Relative chance that this change is the one rolled back (the signal a model can learn)."""
        when, author = self.landed.get(mark, (self.now, 0))
        size = 0
        for c in group:
            new, old = flatten(c.config), flatten(json.loads(c.before))
            size += sum(1 for k in new.keys() | old.keys() if new.get(k) != old.get(k))
        hour = (when // 3600) % 24
        off_hours = not 8 <= hour < 19
        newcomer = author in NEWCOMERS
        return float(np.exp(0.45 * min(size, 8) + 1.3 * off_hours + 1.2 * newcomer))

    def _restore(self, group: list[Comp], message: str, reverted: int, kind: str) -> tuple[int, str]:
        files, befores = {}, []
        for c in group:
            befores.append(text(c.config))
            c.config = json.loads(c.before)
            files[c.path] = c.before
        mark, subject = self.land(message, files)
        for c, before in zip(group, befores, strict=True):
            c.deployed(mark, before)
            self.planted.append((mark, reverted, c.key, kind))
        return mark, subject
