"""A realistic Karma config repository built fast with `git fast-import`, for tests and benchmarks.

`make_repo` writes one first-parent history of `commits` commits on `main`: components created over
the first third of it (`iac/<env>/<type>/<nickname>/config.json`, with references between them),
then updates of one to three fields (some promoted to every environment in one commit, some landed
as pull-request merges), Terraform and README edits that touch no config, comment-free malformed
JSON that a later commit fixes, renames and deletes, and rollbacks of the three kinds the extractor
knows (a `git revert`-style message naming the commit, a `Revert "<subject>"` subject alone, and a
hand-made restore of the previous content), with some reverts of reverts. The returned manifest
says which commit rolls back which, for backtests.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from karma_pipelines.contracts.schema import ENVIRONMENTS
from karma_pipelines.simulator.catalog import FOUNDATION, SERVICE_MIX, SPECS
from karma_pipelines.simulator.edits import apply_change, change_between
from karma_pipelines.simulator.fast_import import check_out, init_repo
from karma_pipelines.simulator.templates import initial_config
from karma_pipelines.simulator.world import PROJECTS, Component, unique_name
from karma_pipelines.sources.git.synthetic_history import PEOPLE, Comp, History, edit, terraform_tidy, text


def _plan_components(n: int, rng: np.random.Generator) -> list[Comp]:
    """The catalogue's foundations per environment first, then services that use them; configs are
    what the simulator's engineers write for a new component of the type."""
    comps: list[Comp] = []
    found = {env: {t: f"{SPECS[t].roles[0]}-{env}" for t in FOUNDATION} for env in ENVIRONMENTS}

    def add(ctype: str, service: str, env: str) -> None:
        nick = f"{service}-{env}"
        refs = tuple((t, found[env][t]) for t, _ in SPECS[ctype].deps if t in found[env] and t != ctype)
        project = service.rsplit("-", 1)[0]
        owner = PEOPLE[int(rng.integers(len(PEOPLE) - 1))][1]
        c = Component(f"{ctype}/{nick}", ctype, nick, service, env, project, owner, refs, 0, 1.0,
                      int(rng.integers(2**31)))  # fmt: skip
        comps.append(Comp(env, ctype, nick, initial_config(c)))

    for env in ENVIRONMENTS:
        for ctype in FOUNDATION:
            add(ctype, SPECS[ctype].roles[0], env)
    # Services whose required links the foundations can satisfy, as often as the simulator makes them.
    types = [t for t in SERVICE_MIX if all(p < 1.0 or d in FOUNDATION for d, p in SPECS[t].deps)]
    weights = np.array([SERVICE_MIX[t] for t in types])
    taken: set[str] = set()
    while len(comps) < n:
        ctype = str(rng.choice(types, p=weights / weights.sum()))
        roles = SPECS[ctype].roles
        service = unique_name(
            f"{PROJECTS[int(rng.integers(9))]}-{roles[int(rng.integers(len(roles)))]}", taken
        )
        for env in ENVIRONMENTS:
            if len(comps) < n:
                add(ctype, service, env)
    return comps[:n]


@dataclass
class SyntheticRepo:
    """What `make_repo` wrote: where, the head commit, and every rollback it planted."""

    path: Path
    head: str
    commits: int
    rollbacks: pd.DataFrame  # rollback_sha, reverted_sha, component, kind (revert/revert_subject/restore)
    reapplied: pd.DataFrame  # original_sha, reapplied_by_sha, component (reverts of reverts)


def make_repo(
    path: Path | str, commits: int = 10_000, components: int = 200, seed: int = 0, rollback_rate: float = 0.08
) -> SyntheticRepo:
    """Write a non-bare repository with `commits` first-parent commits at `path`; return its manifest."""
    path = Path(path)
    init_repo(path)
    rng = np.random.default_rng(seed)
    h = History(path, rng)
    pending = _plan_components(components, rng)
    span = max(commits // 3, len(pending))
    create_at = set(np.sort(rng.choice(span, size=min(len(pending), commits), replace=False)).tolist())
    done = 0
    while done < commits:
        i = done
        done += 1
        roll = rng.random()
        if i in create_at and pending:
            comp = pending.pop(0)
            mark, _ = h.land(f"Add {comp.key}", {comp.path: text(comp.config)})
            comp.deployed(mark, None)
            h.alive.append(comp)
        elif 0.10 <= roll < 0.10 + rollback_rate and h.rollback(rng.random()):
            pass
        elif roll < 0.10 or not _change(h, rng, i):
            module = str(rng.choice(["vpc", "ecs-service", "lambda"]))
            files = {f"modules/{module}/main.tf": terraform_tidy(rng, i)}
            if rng.random() < 0.3:
                files["README.md"] = f"# infra\n\nLast reviewed in change {i}.\n".encode()
            h.land(f"terraform: tidy {module} module", files)
    sha = h.writer.close()
    check_out(path)
    planted = pd.DataFrame(
        [
            {"rollback_sha": sha[rb], "reverted_sha": sha[rv], "component": c, "kind": k}
            for rb, rv, c, k in h.planted
        ],
        columns=["rollback_sha", "reverted_sha", "component", "kind"],
    )
    reapplied = pd.DataFrame(
        [{"original_sha": sha[o], "reapplied_by_sha": sha[r], "component": c} for o, r, c in h.reapplied],
        columns=["original_sha", "reapplied_by_sha", "component"],
    )
    return SyntheticRepo(path, sha[h.writer.tip], commits, planted, reapplied)


def _change(h: History, rng: np.random.Generator, i: int) -> bool:
    """One ordinary commit: an update (maybe promoted, maybe a PR), a fix, a break, a delete or a rename."""
    roll = rng.random()
    alive = h.alive
    if not alive:
        return False
    broken = [c for c in alive if c.broken]
    if broken and roll < 0.5:  # fix a malformed config, with a real change
        comp = broken[0]
        comp.broken = False
        comp.config, subject = edit(comp.config, rng)
        mark, _ = h.land(f"{comp.key}: fix config, {subject} [{i}]", {comp.path: text(comp.config)})
        comp.deployed(mark, None)  # the file before was unparseable: not something to restore
        return True
    if roll < 0.006:  # malformed JSON: a trailing comma
        comp = alive[int(rng.integers(len(alive)))]
        if not comp.broken:
            comp.broken = True
            h.land(f"wip {comp.key} [{i}]", {comp.path: text(comp.config)[:-3] + b",\n}\n"})
            return True
    if roll < 0.010 and len(alive) > 5:  # decommission
        comp = alive.pop(int(rng.integers(len(alive))))
        comp.alive = False
        h.land(f"Decommission {comp.key} [{i}]", {comp.path: None})
        return True
    if roll < 0.014 and len(alive) > 5:  # rename: a new nickname, the same config
        comp = alive.pop(int(rng.integers(len(alive))))
        comp.alive = False
        moved = Comp(comp.env, comp.ctype, f"{comp.nick.rsplit('-', 1)[0]}-v{i}-{comp.env}", comp.config)
        mark, _ = h.land(
            f"Rename {comp.key} to {moved.key} [{i}]", {comp.path: None, moved.path: text(moved.config)}
        )
        moved.deployed(mark, None)
        alive.append(moved)
        return True
    healthy = [c for c in alive if not c.broken]
    if not healthy:
        return False
    comp = healthy[int(rng.integers(len(healthy)))]
    group = [comp]
    if roll < 0.07:  # promote the same change to every environment of the service
        service = comp.nick.rsplit("-", 1)[0]
        group = [c for c in healthy if c.ctype == comp.ctype and c.nick.rsplit("-", 1)[0] == service]
    old, (new, subject) = comp.config, edit(comp.config, rng)
    files, befores = {}, []
    for c in group:
        befores.append(text(c.config))
        c.config = new if c is comp else apply_change(c.config, change_between(old, new))
        files[c.path] = text(c.config)
    changed = [(c, b) for c, b in zip(group, befores, strict=True) if files[c.path] != b]
    if not changed:
        return False
    scope = comp.key if len(group) == 1 else f"{comp.ctype}/{comp.nick.rsplit('-', 1)[0]}-*"
    mark, first_parent_subject = h.land(f"{scope}: {subject} [{i}]", files, pr_merge=rng.random() < 0.15)
    for c, before in changed:
        c.deployed(mark, before)
    h.recent.append((mark, first_parent_subject, [c for c, _ in changed]))
    del h.recent[:-40]
    return True
