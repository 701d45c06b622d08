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

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from karma_pipelines.config_fields import flatten
from karma_pipelines.sources.git.log import git_env

START = pd.Timestamp("2024-01-08 09:00", tz="UTC")
PEOPLE = (
    ("Ana Souza", "ana@example.com"), ("Bo Chen", "bo@example.com"),
    ("Chidi Okafor", "chidi@example.com"), ("Dana Levi", "dana@example.com"),
    ("Emil Berg", "emil@example.com"), ("Fatima Zahra", "fatima@example.com"),
    ("Gus Moreau", "gus@example.com"), ("Hana Sato", "hana@example.com"),
    ("Ivan Petrov", "ivan@example.com"), ("Jo Kim", "jo@example.com"),
    ("Kai Müller", "kai@example.com"), ("Lena Rossi", "lena@example.com"),
    ("deploy-bot", "bot@example.com"),
)  # fmt: skip
ENVS = ("dev", "staging", "prod")
SERVICES = ("storefront", "payments", "identity", "search", "billing", "catalog", "notify", "ledger", "media")
ROLES = ("api", "web", "worker", "jobs", "edge", "core", "sync", "admin")


NEWCOMERS = frozenset({9, 10, 11})  # indexes into PEOPLE: the authors who break things more often


def _base_config(ctype: str, nick: str, env: str, refs: dict[str, str], rng: np.random.Generator) -> dict:
    owner = PEOPLE[int(rng.integers(len(PEOPLE) - 1))][1]
    tags = {"Project": nick.rsplit("-", 1)[0], "Environment": env, "Owner": owner}
    if ctype == "vpc":
        return {
            "cidr": f"10.{int(rng.integers(256))}.0.0/16",
            "az_count": int(rng.choice([2, 3])),
            "enable_ssm_endpoints": bool(rng.random() < 0.5),
            "single_nat_gateway": env != "prod",
            "default_sg_name": f"{nick}-default",
            "tags": tags,
        }
    if ctype == "ecs-cluster":
        return {
            "cluster_name": nick,
            "vpc_nickname": refs["vpc"],
            "enable_container_insights": env == "prod",
            "log_retention_days": 30,
            "capacity_providers": ["FARGATE", "FARGATE_SPOT"],
            "tags": tags,
        }
    if ctype == "s3-bucket":
        return {
            "bucket_name": f"karma-{nick}",
            "versioning": True,
            "force_destroy": env == "dev",
            "enable_encryption": True,
            "sse_algorithm": "aws:kms",
            "block_public_access": True,
        }
    if ctype == "lambda":
        return {
            "functions": {
                "handler": {
                    "runtime": "python3.12",
                    "handler": "app.handler",
                    "memory_size": int(rng.choice([128, 256, 512])),
                    "timeout": int(rng.choice([10, 30, 60])),
                    "src_type": "s3-bucket",
                    "src_nickname": refs["s3-bucket"],
                    "vpc_nickname": refs["vpc"],
                    "environment": {"LOG_LEVEL": "info"},
                }
            },
            "tags": tags,
        }
    if ctype == "ecs-service":
        return {
            "cluster_nickname": refs["ecs-cluster"],
            "vpc_nickname": refs["vpc"],
            "service_name": nick,
            "desired_count": int(rng.integers(1, 5)),
            "cpu": int(rng.choice([256, 512, 1024])),
            "memory": int(rng.choice([512, 1024, 2048])),
            "assign_public_ip": False,
            "container": {
                "name": "app",
                "image": f"registry.example.com/{nick}:1.{int(rng.integers(40))}.0",
                "port": 8080,
                "environment": {"LOG_LEVEL": "info"},
                "secrets": ["DB_PASSWORD"],
            },
            "tags": tags,
        }
    return {  # serverless-site
        "site_name": nick,
        "content_bucket_prefix": nick,
        "cloudfront_comment": f"{nick} site",
        "enable_custom_domain": env == "prod",
        "domain_aliases": [f"{nick}.example.com"],
        "route53_zone_name": "example.com",
        "tags": tags,
    }


_KNOBS = {
    "desired_count": lambda v, r: max(1, v + int(r.choice([-1, 1, 2]))),
    "cpu": lambda v, r: int(r.choice([256, 512, 1024, 2048])),
    "memory": lambda v, r: int(r.choice([512, 1024, 2048, 4096])),
    "memory_size": lambda v, r: int(r.choice([128, 256, 512, 1024])),
    "timeout": lambda v, r: int(r.choice([10, 30, 60, 120])),
    "log_retention_days": lambda v, r: int(r.choice([7, 14, 30, 90])),
    "az_count": lambda v, r: 5 - v,
    "image": lambda v, r: f"{v.rsplit(':', 1)[0]}:1.{int(r.integers(40, 400))}.{int(r.integers(10))}",
    "LOG_LEVEL": lambda v, r: str(r.choice(["debug", "info", "warn"])),
}


def _edit(config: dict, rng: np.random.Generator) -> tuple[dict, str]:
    """A copy of `config` with one to three small changes, and a commit subject for them."""
    new = json.loads(json.dumps(config))
    said = []
    for _ in range(int(rng.choice([1, 1, 1, 2, 3]))):
        leaves = _leaves(new)
        node, key, value, path = leaves[int(rng.integers(len(leaves)))]
        roll = rng.random()
        if key in _KNOBS and roll < 0.7:
            node[key] = _KNOBS[key](value, rng)
            said.append(f"tune {path}")
        elif isinstance(value, bool):
            node[key] = not value
            said.append(f"{'enable' if not value else 'disable'} {path}")
        elif roll < 0.25 and len(node) > 2 and key not in ("tags", "vpc_nickname", "cluster_nickname"):
            del node[key]
            said.append(f"drop {path}")
        elif roll < 0.6:
            tags = new.setdefault("tags", {})
            name = str(rng.choice(["CostCenter", "Team", "DataClass", "Tier"]))
            tags[name] = f"{name.lower()}-{int(rng.integers(9))}"
            said.append(f"tag {name}")
        else:
            name = str(rng.choice(["alarm_email", "retention_days", "max_capacity", "feature_flags"]))
            new[name] = int(rng.integers(1, 100)) if name != "alarm_email" else "ops@example.com"
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


def _text(config: dict) -> bytes:
    return (json.dumps(config, indent=2) + "\n").encode()


def _set_path(config: dict, path: str, value) -> None:
    node = config
    parts = path.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def _drop_path(config: dict, path: str) -> None:
    node = config
    parts = path.split(".")
    for part in parts[:-1]:
        node = node.get(part, {})
    node.pop(parts[-1], None)


def _apply_like(config: dict, old: dict, new: dict) -> dict:
    """`config` with the change from `old` to `new` applied (a promotion to another environment)."""
    before, after = flatten(old), flatten(new)
    out = json.loads(json.dumps(config))
    for path in before.keys() - after.keys():
        _drop_path(out, path)
    for path, value in after.items():
        if before.get(path, object()) != value:
            _set_path(out, path, value)
    return out


def _tf(rng: np.random.Generator, i: int) -> bytes:
    return (
        'resource "aws_cloudwatch_log_group" "this" {\n'
        f'  name              = "/karma/{i}"\n'
        f"  retention_in_days = {int(rng.choice([7, 14, 30]))}\n"
        "  tags              = local.config.tags\n}\n"
    ).encode()


@dataclass
class _Component:
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


def _plan_components(n: int, rng: np.random.Generator) -> list[_Component]:
    """Foundations per environment first (vpc, cluster, bucket), then services that use them."""
    comps: list[_Component] = []
    refs = {
        env: {"vpc": f"core-{env}", "ecs-cluster": f"main-{env}", "s3-bucket": f"artifacts-{env}"}
        for env in ENVS
    }
    for env in ENVS:
        for ctype, nick in (
            ("vpc", f"core-{env}"),
            ("ecs-cluster", f"main-{env}"),
            ("s3-bucket", f"artifacts-{env}"),
        ):
            comps.append(_Component(env, ctype, nick, _base_config(ctype, nick, env, refs[env], rng)))
    names = [f"{s}-{r}" for s in SERVICES for r in ROLES]
    rng.shuffle(names)
    types = ("ecs-service", "lambda", "serverless-site", "s3-bucket")
    k = 0
    while len(comps) < n:
        name = names[k % len(names)] + ("" if k < len(names) else str(k // len(names) + 1))
        ctype = str(rng.choice(types, p=[0.45, 0.25, 0.15, 0.15]))
        for env in ENVS:
            if len(comps) < n:
                nick = f"{name}-{env}"
                comps.append(_Component(env, ctype, nick, _base_config(ctype, nick, env, refs[env], rng)))
        k += 1
    return comps[:n]


@dataclass
class SyntheticRepo:
    """What `make_repo` wrote: where, the head commit, and every rollback it planted."""

    path: Path
    head: str
    commits: int
    rollbacks: pd.DataFrame  # rollback_sha, reverted_sha, component, kind (revert/revert_subject/restore)
    reapplied: pd.DataFrame  # original_sha, reapplied_by_sha, component (reverts of reverts)


class _Writer:
    """A `git fast-import` process fed commit by commit; `sha(mark)` asks it for a commit's id."""

    def __init__(self, path: Path, marks: Path):
        self.proc = subprocess.Popen(
            ["git", "fast-import", "--quiet", "--done", f"--export-marks={marks}"],
            cwd=path,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=git_env(),
        )
        self.buf: list[bytes] = []
        self.mark = 0
        self.tip: int | None = None

    def commit(
        self,
        ref: str,
        when: int,
        author: tuple[str, str],
        message: str,
        files: dict[str, bytes | None],
        parent: int | None,
        merge: int | None = None,
    ) -> int:
        self.mark += 1
        name, email = author
        msg = message.encode()
        out = [
            f"commit {ref}\nmark :{self.mark}\n".encode(),
            f"author {name} <{email}> {when - 300} +0000\n".encode(),
            f"committer {name} <{email}> {when} +0000\ndata {len(msg)}\n".encode(),
            msg,
            b"\n",
        ]
        if parent is not None:
            out.append(f"from :{parent}\n".encode())
        if merge is not None:
            out.append(f"merge :{merge}\n".encode())
        for path, data in files.items():
            if data is None:
                out.append(f"D {path}\n".encode())
            else:
                out.append(f"M 100644 inline {path}\ndata {len(data)}\n".encode() + data + b"\n")
        self.buf.append(b"".join(out) + b"\n")
        if len(self.buf) > 256:
            self.flush()
        return self.mark

    def sha(self, mark: int) -> str:
        self.buf.append(f"get-mark :{mark}\n".encode())
        self.flush()
        return self.proc.stdout.readline().decode().strip()

    def flush(self) -> None:
        self.proc.stdin.write(b"".join(self.buf))
        self.proc.stdin.flush()
        self.buf = []

    def close(self) -> None:
        self.buf.append(b"done\n")
        self.flush()
        self.proc.stdin.close()
        if self.proc.wait() != 0:
            raise RuntimeError("git fast-import failed")


class _History:
    """The generator's state: what exists, what was recently changed, what was rolled back."""

    def __init__(self, path: Path, rng: np.random.Generator):
        self.rng = rng
        self.writer = _Writer(path, path / ".git" / "synthetic-marks")
        self.now = int(START.timestamp())
        self.pr = 100
        self.alive: list[_Component] = []
        self.recent: list[tuple[int, str, list[_Component]]] = []  # updates: (mark, subject, comps)
        self.reverts: list[tuple[int, str, list[_Component]]] = []  # git-style reverts, same shape
        self.planted: list[tuple[int, int, str, str]] = []  # (rollback, reverted, component, kind)
        self.reapplied: list[tuple[int, int, str]] = []  # (original, re-applying revert, component)
        self.landed: dict[int, tuple[int, int]] = {}  # mark -> (commit time, author index)

    def who(self) -> tuple[str, str]:
        return PEOPLE[int(self.rng.integers(len(PEOPLE)))]

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

        def current(mark: int, group: list[_Component]) -> bool:
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

    def _risk(self, mark: int, group: list[_Component]) -> float:
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

    def _restore(self, group: list[_Component], message: str, reverted: int, kind: str) -> tuple[int, str]:
        files, befores = {}, []
        for c in group:
            befores.append(_text(c.config))
            c.config = json.loads(c.before)
            files[c.path] = c.before
        mark, subject = self.land(message, files)
        for c, before in zip(group, befores, strict=True):
            c.deployed(mark, before)
            self.planted.append((mark, reverted, c.key, kind))
        return mark, subject


def make_repo(
    path: Path | str, commits: int = 10_000, components: int = 200, seed: int = 0, rollback_rate: float = 0.08
) -> SyntheticRepo:
    """Write a non-bare repository with `commits` first-parent commits at `path`; return its manifest."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True, env=git_env())
    rng = np.random.default_rng(seed)
    h = _History(path, rng)
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
            mark, _ = h.land(f"Add {comp.key}", {comp.path: _text(comp.config)})
            comp.deployed(mark, None)
            h.alive.append(comp)
        elif 0.10 <= roll < 0.10 + rollback_rate and h.rollback(rng.random()):
            pass
        elif roll < 0.10 or not _change(h, rng, i):
            module = str(rng.choice(["vpc", "ecs-service", "lambda"]))
            files = {f"modules/{module}/main.tf": _tf(rng, i)}
            if rng.random() < 0.3:
                files["README.md"] = f"# infra\n\nLast reviewed in change {i}.\n".encode()
            h.land(f"terraform: tidy {module} module", files)
    h.writer.close()
    marks = dict(
        line.split() for line in (path / ".git" / "synthetic-marks").read_text().splitlines() if line.strip()
    )
    (path / ".git" / "synthetic-marks").unlink()
    sha = {int(k[1:]): v for k, v in marks.items()}
    subprocess.run(["git", "-C", str(path), "reset", "-q", "--hard", "main"], check=True, env=git_env())
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


def _change(h: _History, rng: np.random.Generator, i: int) -> bool:
    """One ordinary commit: an update (maybe promoted, maybe a PR), a fix, a break, a delete or a rename."""
    roll = rng.random()
    alive = h.alive
    if not alive:
        return False
    broken = [c for c in alive if c.broken]
    if broken and roll < 0.5:  # fix a malformed config, with a real change
        comp = broken[0]
        comp.broken = False
        comp.config, subject = _edit(comp.config, rng)
        mark, _ = h.land(f"{comp.key}: fix config, {subject} [{i}]", {comp.path: _text(comp.config)})
        comp.deployed(mark, None)  # the file before was unparseable: not something to restore
        return True
    if roll < 0.006:  # malformed JSON: a trailing comma
        comp = alive[int(rng.integers(len(alive)))]
        if not comp.broken:
            comp.broken = True
            h.land(f"wip {comp.key} [{i}]", {comp.path: _text(comp.config)[:-3] + b",\n}\n"})
            return True
    if roll < 0.010 and len(alive) > 5:  # decommission
        comp = alive.pop(int(rng.integers(len(alive))))
        comp.alive = False
        h.land(f"Decommission {comp.key} [{i}]", {comp.path: None})
        return True
    if roll < 0.014 and len(alive) > 5:  # rename: a new nickname, the same config
        comp = alive.pop(int(rng.integers(len(alive))))
        comp.alive = False
        moved = _Component(
            comp.env, comp.ctype, f"{comp.nick.rsplit('-', 1)[0]}-v{i}-{comp.env}", comp.config
        )
        mark, _ = h.land(
            f"Rename {comp.key} to {moved.key} [{i}]", {comp.path: None, moved.path: _text(moved.config)}
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
    old, (new, subject) = comp.config, _edit(comp.config, rng)
    files, befores = {}, []
    for c in group:
        befores.append(_text(c.config))
        c.config = new if c is comp else _apply_like(c.config, old, new)
        files[c.path] = _text(c.config)
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
