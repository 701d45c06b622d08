"""The bad-input probe as one suite: every case of the bad-input tests (event lines and files, Git files
and names, budgets, planted secrets) run together through the one source -> validated-tables path
(`load_tables`), one event world and one Git repository. Asserted over all of them: crashes 0, rows
lost 0 (every event line, every changed config file of every commit, ends in exactly one of clean or
quarantined), secrets found 0 (in every table and the Git state). Run with `-s` to see the summary."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
from pathlib import Path

import pandas as pd

from karma_pipelines.bench.bad_input import wide_config
from karma_pipelines.contracts.config_fields import MAX_FIELDS
from karma_pipelines.pipeline.tables import load_tables
from karma_pipelines.sources.event_world import EventLogSource
from karma_pipelines.sources.git.layout import DEFAULT_LAYOUT, Layouts, path_text
from karma_pipelines.sources.git.source import GitSource
from tests.test_bad_event_lines import ENVELOPE_VALUES, NOT_OBJECT_CONFIGS, OTHER_SPACES, conflicting_copies
from tests.test_bad_event_records import (
    DEPTHS,
    GOOD,
    HORIZON,
    ID_FIELDS,
    ID_VALUES,
    OUT_OF_RANGE_TS,
    bad_id,
    deploy,
    event,
    nested_config,
    surrogate_lines,
    write_world,
)
from tests.test_git_history_cases import CHARTS_FILES, non_utf8_history
from tests.test_git_source import GitRepo
from tests.test_input_budgets import OVER_BUDGET
from tests.test_secrets_never_stored import SECRETS, plant

OUTSIDE = "s3cr3t-outside-the-world"  # in a file a link out of the world points at: never read
ALL_SECRETS = {**SECRETS, "outside": OUTSIDE}
KEPT = {"lone surrogate", "byte order mark"}  # cases whose lines are all clean (made encodable, read)


def _event_cases() -> dict[str, list[str]]:
    """Case -> its lines (one day file each); keys and deploy ids distinct across cases."""
    cases: dict[str, list[str]] = {}

    def add(name, build):
        k, n = f"c{len(cases)}", 1000 * (len(cases) + 1)
        cases[name] = build(k, n)

    add(
        "timestamp outside the nanosecond range",
        lambda k, n: [json.dumps(event(f"{k}-{j}", ts=ts)) for j, ts in enumerate(OUT_OF_RANGE_TS)],
    )
    add(
        "deploy_id or rolls_back a list or object",
        lambda k, n: [
            json.dumps(bad_id(f"{k}-{f}-{j}", f, v)) for f in ID_FIELDS for j, v in enumerate(ID_VALUES)
        ],
    )
    add(
        "lone surrogate",
        lambda k, n: surrogate_lines("message", k, n) + surrogate_lines("user", k + "u", n + 1),
    )
    add(
        "config nested too deeply",
        lambda k, n: [
            json.dumps(
                deploy(f"{k}-{d}", f"dep-{n + d:06d}", ts="2026-05-01T12:00:00Z", config=nested_config(d))
            )
            for d in DEPTHS
        ],
    )
    add(
        "envelope field of the wrong type",
        lambda k, n: [
            json.dumps(event(f"{k}-{j}") | {"idempotency_key": v}) for j, v in enumerate(ENVELOPE_VALUES)
        ],
    )
    add(
        "config that is not an object",
        lambda k, n: [
            json.dumps(deploy(f"{k}-{j}", f"dep-{n + j:06d}", config=c))
            for j, c in enumerate(NOT_OBJECT_CONFIGS)
        ],
    )
    add("re-delivery, identical and conflicting", conflicting_copies)
    add("line of other white space", lambda k, n: [s for sp in OTHER_SPACES for s in (sp, f" {sp}\t")])
    add(
        "config over the field cap",
        lambda k, n: [json.dumps(deploy(f"{k}-1", f"dep-{n:06d}", config=wide_config(MAX_FIELDS + 1)))],
    )
    add("not JSON, or not an object", lambda k, n: ["{not json", "[1, 2]", '"text"', "null", "\xff junk"])
    return cases  # fmt: skip


def _event_world(root: Path) -> tuple[Path, dict[str, str]]:
    """A world: GOOD with secrets planted (and a cut line), one day file per case, a file with a byte
    order mark, a folder named like a day, a link out of the world. Returns it and file -> case."""
    world = write_world(root / "world", GOOD)
    plant(world)  # secrets in configs and messages, and a cut line holding one
    events, case_of = world / "events", {"2026-05-01.jsonl": "planted secrets, a line cut short"}
    for day, (case, lines) in enumerate(_event_cases().items(), start=2):
        name = f"2026-05-{day:02d}.jsonl"
        (events / name).write_bytes("\n".join(lines).encode("utf-8", "surrogatepass") + b"\n")
        case_of[name] = case
    (events / "2026-05-25.jsonl").write_bytes(b"\xef\xbb\xbf" + json.dumps(event("bom-1")).encode() + b"\n")
    (events / "2026-05-26.jsonl").mkdir()
    (root / "outside.jsonl").write_text(json.dumps(event("out-1", attrs={"note": OUTSIDE})) + "\n")
    os.symlink(root / "outside.jsonl", events / "2026-05-27.jsonl")
    case_of |= {"2026-05-25.jsonl": "byte order mark", "2026-05-26.jsonl": "folder named like a day"}
    case_of["2026-05-27.jsonl"] = "link out of the world"
    return world, case_of


def _event_units(world: Path) -> dict[str, str]:
    """Every record id the event log must account for -> its file: each non-blank physical line
    (split on \\n only, as JSON Lines is; a byte order mark is no part of the first), and one row for
    an entry that is not a readable file."""
    units = {}
    for path in sorted((world / "events").glob("*.jsonl")):
        if path.is_dir() or not path.resolve().is_relative_to(world.resolve()):
            units[f"{path.name}:0"] = path.name
            continue
        lines = path.read_bytes().removeprefix(b"\xef\xbb\xbf").split(b"\n")
        units |= {f"{path.name}:{n}": path.name for n, line in enumerate(lines, 1) if line.strip(b" \t\r")}
    return units


def _git_repo(root: Path) -> tuple[GitRepo, Layouts]:
    repo = GitRepo(root / "repo")
    non_utf8_history(repo)  # hours 0-2
    repo.commit(3, "charts", CHARTS_FILES)
    repo.commit(
        4, "budgets", {f"charts/{case}/values.yaml": text for case, (_, text, _) in OVER_BUDGET.items()}
    )
    secret = f"db_password: {SECRETS['phrase']}\nnote: token {SECRETS['github']}\nreplicas: 2\n"
    repo.commit(
        5, f"deploy with {SECRETS['aws']} password={SECRETS['message']}", {"charts/db/values.yaml": secret}
    )
    (repo.path / "charts" / "link").mkdir()
    os.symlink("../web/values.yaml", repo.path / "charts" / "link" / "values.yaml")
    repo.commit(6, "a link")
    return repo, Layouts([DEFAULT_LAYOUT, "charts/{nickname}/values.yaml"])  # fmt: skip


def _git_units(repo: GitRepo, layouts: Layouts) -> dict[str, tuple[str, str]]:
    """`<commit>:<path>` of every changed file a layout matches (git's own listing, not the source's)
    -> (the deploy id its change makes, its file key), over the first-parent history."""

    def git(*args: str) -> bytes:
        return subprocess.run(["git", *args], cwd=repo.path, capture_output=True, check=True).stdout

    units = {}
    for sha in git("rev-list", "--first-parent", "--reverse", "HEAD").decode().split():
        for raw in filter(
            None, git("diff-tree", "--root", "--no-commit-id", "-r", "-z", "--name-only", sha).split(b"\0")
        ):
            found = layouts.match(os.fsdecode(raw))
            if found is not None:
                units[f"{sha}:{path_text(os.fsdecode(raw))}"] = (f"{sha}:{found.component}", found.file_key)
    return units  # fmt: skip


def _secrets_in(frames: dict[str, object]) -> dict[str, list[str]]:
    hits: dict[str, list[str]] = {}
    for where, value in frames.items():
        data = pickle.dumps(value)
        text = value.to_json(orient="records", lines=True) if isinstance(value, pd.DataFrame) else ""
        for name, secret in ALL_SECRETS.items():
            if secret.encode() in data or secret in text:
                hits.setdefault(name, []).append(where)
    return hits


def _load(source, errors: list[str]):
    try:
        return load_tables(source, HORIZON)
    except Exception as exc:  # a crash is counted, not raised: the summary says which source
        errors.append(f"{source.kind}: {type(exc).__name__}: {exc}")
        return None


def test_bad_input_cases_crash_nothing_lose_nothing_store_no_secret(tmp_path):
    crashes: list[str] = []
    world, case_of = _event_world(tmp_path / "events")
    events = _load(EventLogSource(world), crashes)
    repo, layouts = _git_repo(tmp_path / "git")
    git_source = GitSource(repo.path, layout=layouts, state_dir=tmp_path / "state")
    git = _load(git_source, crashes)
    assert crashes == []

    # Events: every line exactly once in clean or quarantined.
    units = _event_units(world)
    clean = list(events.clean_events["record_id"])
    quarantined = list(events.quarantined.loc[events.quarantined["table"] == "karma_events", "record_id"])
    accounted = pd.Series(clean + quarantined).value_counts()
    event_lost = sorted(set(units) - set(accounted.index))
    event_twice = sorted(accounted[accounted > 1].index)
    unknown = sorted(set(accounted.index) - set(units))

    # Git: every changed config file a deploy of its component in that commit, or quarantined.
    q = git.quarantined
    files_q = set(q.loc[q["table"] == "git_files", "record_id"])
    deploys_q = set(q.loc[q["table"] == "deploy_records", "record_id"])
    deploy_ids = set(git.deploy_records["deploy_id"]) | deploys_q
    git_units = _git_units(repo, layouts)
    git_lost, git_twice = [], []
    for unit, (deploy_id, _) in git_units.items():
        deployed = any(d == deploy_id or d.startswith(deploy_id + "@") for d in deploy_ids)
        if deployed == (unit in files_q):
            (git_twice if deployed else git_lost).append(unit)
    assert set(files_q) <= set(git_units)  # nothing quarantined that is not a changed config file

    state = b"".join(p.read_bytes() for p in (tmp_path / "state").glob("*.pkl"))
    stores = {f"events.{k}": v for k, v in vars(events).items() if isinstance(v, pd.DataFrame)}
    stores |= {f"git.{k}": v for k, v in vars(git).items() if isinstance(v, pd.DataFrame)}
    secrets = _secrets_in(stores)
    secrets |= {n: ["git state"] for n, s in ALL_SECRETS.items() if s.encode() in state}

    per_case = {case: {"lines": 0, "quarantined": 0} for case in case_of.values()}
    for unit, name in units.items():
        per_case[case_of[name]]["lines"] += 1
        per_case[case_of[name]]["quarantined"] += unit in set(quarantined)
    summary = {
        "cases": len(per_case) + 1,  # the event-log cases and the Git repository's
        "crashes": len(crashes),
        "event_lines": len(units),
        "event_lines_quarantined": len(quarantined),
        "git_files_changed": len(git_units),
        "git_files_quarantined": len(files_q),
        "rows_lost": len(event_lost) + len(git_lost),
        "rows_counted_twice": len(event_twice) + len(git_twice),
        "secrets_found": sum(len(v) for v in secrets.values()),
        "per_case": per_case,
    }
    print(json.dumps(summary, indent=1))
    assert (event_lost, event_twice, unknown) == ([], [], [])
    assert (git_lost, git_twice) == ([], [])
    assert secrets == {}
    # Every case quarantined something (the planted file: its cut line), but those that must be kept.
    assert {name for name, c in per_case.items() if c["quarantined"] == 0} == KEPT
    assert {"too_many_fields", "parse_error", "symlink", "binary"} <= {
        r.partition("(")[0] for r in q["reasons"]
    }
