"""Bad input at scale: peak memory where a budget must hold (`make bench` section `bad_input`, or
`python -m karma_pipelines.bench.bad_input`).

Each case runs in a fresh process, so that its peak resident set is its own: a config of 40,000 leaf
fields (twice `MAX_FIELDS`) through the Git source and through the event log, the largest config
allowed (`MAX_FIELDS` fields) through `suggest --configs`, and a YAML alias bomb (a few hundred bytes
expanding to 9**9 values) through `suggest --configs` and through the Git parser. Printed per case:
crashes (a process that failed), rows lost (an input file or line in neither the clean tables nor
the quarantine), seconds and peak RSS; `ordinary_git` is the floor (the same path on two ordinary
configs). The builders of these inputs are also the tests' (`tests/test_input_budgets.py`).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from karma_pipelines.bench.common import peak_rss_mib

WIDE_FIELDS = 40_000  # twice MAX_FIELDS
DAY = "2026-05-01"


def alias_bomb() -> str:
    """A few hundred bytes of YAML whose aliases expand to 9**9 values ("billion laughs")."""
    lines = ['a: &a ["lol-lol-lol-lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def many_documents(n: int = 20_000) -> str:
    """A YAML file of `n` one-key documents."""
    return "".join(f"---\nkey{i}: {i}\n" for i in range(n))


def wide_config(n: int, value: int = 0) -> dict:
    """A config of exactly `n` leaf fields, in sections of 100."""
    return {
        f"s{s}": {f"f{i}": i + value for i in range(s * 100, min(n, s * 100 + 100))}
        for s in range(-(-n // 100))
    }


def _git(repo: Path, *args: str) -> str:
    from karma_pipelines.sources.git.log import git_env

    env = git_env() | {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    env |= {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com"}
    env |= {"GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}
    return subprocess.run(
        ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
    ).stdout


def _repo(root: Path, commits: list[dict[str, str]]) -> Path:
    """A repository with one commit per mapping of path -> text."""
    root.mkdir(parents=True)
    _git(root, "init", "-q", "-b", "main")
    for n, files in enumerate(commits):
        for rel, text in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
        _git(root, "add", "-A")
        _git(root, "commit", "-q", "-m", f"change {n}")
    return root


def _git_case(repo: Path, layout: str | None = None) -> dict:
    """The repository through the one path; every changed config file of every commit must be a
    deploy of its component in that commit or a quarantined file."""
    from karma_pipelines.pipeline.tables import load_tables
    from karma_pipelines.records import DEFAULT_HORIZON
    from karma_pipelines.sources.git.source import GitSource

    source = GitSource(repo, layout) if layout else GitSource(repo)
    tables = load_tables(source, DEFAULT_HORIZON)
    deploys, quarantined = set(tables.deploy_records["deploy_id"]), set(tables.quarantined["record_id"])
    lost = files = 0
    for sha in _git(repo, "rev-list", "--reverse", "HEAD").split():
        for path in _git(repo, "diff-tree", "--root", "--no-commit-id", "-r", "--name-only", sha).split():
            found = source.layouts.match(path)
            if found is not None:
                files += 1
                lost += f"{sha}:{found.component}" not in deploys and f"{sha}:{path}" not in quarantined
    reasons = sorted(set(tables.quarantined["reasons"]))
    return {"files": files, "deploys": len(deploys), "quarantined": len(quarantined), "rows_lost": lost,
            "reasons": reasons[:2]}  # fmt: skip


def wide_config_git(tmp: Path) -> dict:
    wide, small = "iac/dev/vpc/wide/config.json", "iac/dev/vpc/small/config.json"
    commits = [
        {wide: json.dumps(wide_config(WIDE_FIELDS, k)), small: json.dumps({"cidr": k})} for k in range(3)
    ]
    return _git_case(_repo(tmp / "repo", commits))


def wide_config_events(tmp: Path) -> dict:
    """An event world whose three deploys carry a 10,000-field config, beside ordinary events."""
    from karma_pipelines.pipeline.tables import load_tables
    from karma_pipelines.records import DEFAULT_HORIZON
    from karma_pipelines.sources.event_world import EventLogSource

    world = tmp / "world"
    (world / "events").mkdir(parents=True)
    (world / "world.json").write_text(
        json.dumps({"start": "2026-04-01T00:00:00Z", "end": "2026-06-01T00:00:00Z"})
    )
    (world / "configs" / "iac" / "dev" / "vpc" / "core").mkdir(parents=True)
    (world / "configs" / "iac" / "dev" / "vpc" / "core" / "config.json").write_text("{}")
    lines = []
    for k in range(6):
        config = wide_config(WIDE_FIELDS, k) if k % 2 else {"cidr": k}
        attrs = {"deploy_id": f"dep-{k}", "component": "vpc/core", "environment": "dev", "user": "ana"}
        attrs |= {"action": "update", "status": "succeeded", "config": config}
        lines.append(
            json.dumps(
                {"ts": f"{DAY}T1{k}:00:00Z", "event_type": "deploy.apply", "entity_id": "vpc/core",
                 "correlation_id": f"chg-{k}", "idempotency_key": f"k-{k}", "source": "cli", "attrs": attrs}
            )
        )  # fmt: skip
    (world / "events" / f"{DAY}.jsonl").write_text("\n".join(lines) + "\n")
    tables = load_tables(EventLogSource(world), DEFAULT_HORIZON)
    seen = set(tables.clean_events["record_id"]) | set(tables.quarantined["record_id"])
    return {
        "lines": len(lines),
        "deploys": len(tables.deploy_records),
        "quarantined": len(tables.quarantined),
        "rows_lost": sum(f"{DAY}.jsonl:{n}" not in seen for n in range(1, len(lines) + 1)),
    }


def _suggest_case(folder: Path, extra: dict[str, str]) -> dict:
    """`suggest --configs` on eight ordinary configs and `extra`; every file must be read or reported."""
    from karma_pipelines.apps.cli import main

    layout = "{component_type}/{nickname}/values.yaml"
    for i in range(8):
        path = folder / "vpc" / f"net{i}" / "values.yaml"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"cidr": f"10.{i}.0.0/16", "az_count": 2 + i % 2, "tags": {"Owner": "x"}}))
    for rel, text in extra.items():
        (folder / rel).parent.mkdir(parents=True)
        (folder / rel).write_text(text)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["suggest", "--configs", str(folder), "--layout", layout, "--json"])
    read = len(json.loads(out.getvalue())) if code == 0 else 0
    skipped = err.getvalue().count("warning: skipped ")
    return {"exit_code": code, "files": 8 + len(extra), "configs_read": read, "files_skipped": skipped,
            "rows_lost": 8 + len(extra) - read - skipped}  # fmt: skip


def alias_bomb_suggest(tmp: Path) -> dict:
    return {
        "bomb_bytes": len(alias_bomb()),
        **_suggest_case(tmp / "configs", {"vpc/bomb/values.yaml": alias_bomb()}),
    }


def widest_allowed_suggest(tmp: Path) -> dict:
    from karma_pipelines.contracts.config_fields import MAX_FIELDS

    extra = {"vpc/widest/values.yaml": json.dumps(wide_config(MAX_FIELDS))}
    return {"fields": MAX_FIELDS, **_suggest_case(tmp / "configs", extra)}


def alias_bomb_git(tmp: Path) -> dict:
    files = {
        "iac/dev/vpc/bomb/values.yaml": alias_bomb(),
        "iac/dev/vpc/ok/values.yaml": "cidr: 10.0.0.0/16\n",
    }
    repo = _repo(tmp / "repo", [files])
    return {
        "bomb_bytes": len(alias_bomb()),
        **_git_case(repo, "iac/{env}/{component_type}/{nickname}/values.yaml"),
    }


def ordinary_git(tmp: Path) -> dict:
    """The floor: the same path (imports, validation) on a repository of two ordinary configs."""
    files = {"iac/dev/vpc/a/config.json": '{"cidr": 1}', "iac/dev/vpc/b/config.json": '{"cidr": 2}'}
    return _git_case(_repo(tmp / "repo", [files]))


CASES = {
    f.__name__: f
    for f in (
        ordinary_git,
        wide_config_git,
        wide_config_events,
        alias_bomb_git,
        alias_bomb_suggest,
        widest_allowed_suggest,
    )
}


def _one(name: str) -> dict:
    """One case in this process: its figures, seconds and peak RSS, as one JSON line on stdout."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        figures = CASES[name](Path(tmp))
        figures["seconds"] = round(time.perf_counter() - start, 2)
    figures["peak_rss_mib"] = peak_rss_mib()
    return figures


def bench_bad_input(tmp: Path | None = None) -> dict:
    """Every case in its own process; totals of cases, crashes and rows lost."""
    out: dict = {}
    crashes = lost = 0
    for name in CASES:
        proc = subprocess.run(
            [sys.executable, "-m", "karma_pipelines.bench.bad_input", "--case", name],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            crashes += 1
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            out[name] = {"crashed": True, "exit_code": proc.returncode, "error": tail}
            continue
        out[name] = json.loads(proc.stdout.strip().splitlines()[-1])
        lost += out[name]["rows_lost"]
    return {"cases": len(CASES), "crashes": crashes, "rows_lost": lost, **out}


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--case"]:
        print(json.dumps(_one(args[1])), flush=True)
        return 0
    for key, value in bench_bad_input().items():
        print(f"  {key:48s} {json.dumps(value)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
