"""A simulated world written as a Git history of configs: what a team that keeps its Karma configs
in Git would have committed for the same deploys.

Read from a world folder (`karma-pipelines simulate`): its event log, less the malformed lines the
simulator planted (`ground_truth/malformed.csv`). One commit per deploy of a change request, on
`main`, in time order: authored by the requester when the change was requested, committed when
it was deployed, with the request's text as message, writing the component's config at
`iac/<env>/<component_type>/<nickname>/config.json`. A rollback is a `git revert` of the deploy it
undoes: the earlier content back (the file removed when it undoes a create), and a message that
says `This reverts commit <sha>.`

What Git does not hold is not written: validation outcomes, failed deploys (a commit is a commit),
invalidated dependents, drift, promotions as such, and where a deploy came from (CLI, API, CI).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from karma_pipelines.contracts.schema import DEPLOY_EVENT_TYPES
from karma_pipelines.simulator.fast_import import FastImport, check_out, init_repo

EMAIL_DOMAIN = "karma.example"
LAYOUT = "iac/{env}/{component_type}/{nickname}/config.json"


def author_email(user: str) -> str:
    """The e-mail a simulated engineer commits with (Git records identify people by e-mail)."""
    return f"{user}@{EMAIL_DOMAIN}"


@dataclass(frozen=True)
class GitHistory:
    """What `write_git_history` wrote: the repository, its head, and each deploy's commit."""

    path: Path
    head: str
    commits: int
    commit_of: dict[str, str]  # event-log deploy id -> commit sha


def _planted(world: Path) -> set[tuple[str, int]]:
    path = world / "ground_truth" / "malformed.csv"
    if not path.exists():
        return set()
    with path.open(encoding="utf-8", newline="") as fh:
        return {(row["file"], int(row["line"])) for row in csv.DictReader(fh)}


def real_events(world: Path | str) -> list[dict[str, Any]]:
    """The world's real events in time order (ties: log order); planted lines left out."""
    world = Path(world)
    planted = _planted(world)
    events = []
    for path in sorted((world / "events").glob("*.jsonl")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip() and (path.name, n) not in planted:
                events.append(json.loads(line))
    return sorted(events, key=lambda e: pd.Timestamp(e["ts"]))  # stable: log order within a second


def _seconds(ts: str) -> int:
    return int(pd.Timestamp(ts).timestamp())


def config_text(config: dict[str, Any]) -> bytes:
    return (json.dumps(config, indent=2, sort_keys=True) + "\n").encode()


def write_git_history(world_dir: Path | str, repo_dir: Path | str) -> GitHistory:
    """Write the deploys of the world at `world_dir` as a new repository at `repo_dir` (one
    `git fast-import`); returns its head and the commit of every deploy."""
    events = real_events(world_dir)
    requests = {e["correlation_id"]: e for e in events if e["event_type"] == "change.requested"}
    repo = init_repo(Path(repo_dir))
    writer = FastImport(repo, repo / ".git" / "world-marks")
    mark_of: dict[str, int] = {}  # deploy id -> commit mark
    subject_of: dict[str, str] = {}  # deploy id -> commit subject
    for event in events:
        if event["event_type"] not in DEPLOY_EVENT_TYPES:
            continue
        attrs = event["attrs"]
        ctype, _, nickname = event["entity_id"].partition("/")
        path = LAYOUT.format(env=attrs["environment"], component_type=ctype, nickname=nickname)
        config = attrs.get("config")
        files = {path: config_text(config) if config else None}
        user = attrs["user"]
        when = _seconds(event["ts"])
        if event["event_type"] == "deploy.rollback":
            undone = attrs["rolls_back"]
            sha = writer.sha(mark_of[undone])
            subject = f'Revert "{subject_of[undone]}"'
            message = f"{subject}\n\n{attrs.get('reason', '')}\n\nThis reverts commit {sha}.\n"
            authored = when
        else:
            request = requests.get(event["correlation_id"], {})
            text = request.get("attrs", {}).get("message") or f"{attrs['action']} {event['entity_id']}"
            subject = text.split("\n", 1)[0]
            message = text if text.endswith("\n") else text + "\n"
            authored = _seconds(request["ts"]) if request else when
        who = (user, author_email(user))
        writer.tip = writer.commit("refs/heads/main", when, who, message, files, writer.tip, None, authored)
        mark_of[attrs["deploy_id"]] = writer.tip
        subject_of[attrs["deploy_id"]] = subject
    if writer.tip is None:
        writer.close()
        raise ValueError(f"no deploys in the event log of {world_dir}")
    tip = writer.tip
    sha = writer.close()
    check_out(repo)
    return GitHistory(repo, sha[tip], len(sha), {d: sha[m] for d, m in mark_of.items()})
