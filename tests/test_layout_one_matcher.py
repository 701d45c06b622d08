"""One layout matcher and one config parser: `suggest --repo` (a Git history), `suggest --configs` (a
checkout of it) and the Git source's deploys see the same components, types, environments and fields."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from karma_pipelines.sources.git import extract_git_history
from karma_pipelines.suggester.cli_support import component_of, load_corpus, with_config

WEB = """\
defaults: &defaults
  replicas: 2
  resources:
    limits: {cpu: 500m}
image:
  <<: *defaults
  tag: "1.2"
on: push
"""
WORKER = "queue: jobs\n---\nautoscaling:\n  min: 1\n  max: 4\n"
API_OLD = "replicas: 1\n"
API_NEW = "replicas: 3\nprobe:\n  path: /health\n"

# (layout, where a component's file lives, the type the layout gives it)
LAYOUTS = [
    ("envs/{env}/charts/{nickname}/values.yaml", "envs/{env}/charts/{nickname}/values.yaml", "charts"),
    ("{env}/services/{nickname}.yaml", "{env}/services/{nickname}.yaml", "services"),
]


def _git(cwd: Path, *args: str, when: int = 0) -> str:
    """git in `cwd` with a fixed identity and date (day `1 + when` of January 2026); its stdout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    date = f"2026-01-{1 + when:02d}T10:00:00Z"
    env |= {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_AUTHOR_DATE": date}
    env |= {"GIT_COMMITTER_DATE": date, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def _commit(repo: Path, when: int, files: dict[str, str | None]) -> None:
    for rel, text in files.items():
        if text is None:
            (repo / rel).unlink()
            continue
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", f"change {when}", when=when)


@pytest.fixture(params=LAYOUTS, ids=["charts", "flat"])
def history(request, tmp_path):
    layout, where, ctype = request.param

    def at(env: str, nick: str) -> str:
        return where.format(env=env, nickname=nick)

    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _commit(repo, 0, {at("dev", "api"): API_OLD, at("dev", "gone"): "replicas: 1\n", "README.md": "# x\n"})
    _commit(repo, 1, {at("dev", "web"): WEB, at("prod", "web"): WEB.replace("1.2", "1.1")})
    _commit(repo, 2, {at("prod", "worker"): WORKER, at("dev", "broken"): "replicas: [unclosed\n"})
    _commit(repo, 3, {at("dev", "api"): API_NEW, at("dev", "gone"): None, ".github/ci.yaml": "on: push\n"})
    link = repo / at("dev", "link")
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(os.path.relpath(repo / at("dev", "web"), link.parent), link)
    _commit(repo, 4, {at("dev", "web").replace(".yaml", ".txt"): "not a config\n"})
    checkout = tmp_path / "checkout"
    _git(tmp_path, "clone", "-q", str(repo), str(checkout))
    return layout, ctype, repo, checkout, at


def _view(corpus) -> list[tuple]:
    frame = corpus.configs
    columns = ("key", "component", "component_type", "environment", "group")
    return sorted(zip(*(frame[c] for c in columns), corpus.fields, strict=True))


def test_repo_and_folder_corpora_and_deploys_agree(history):
    layout, ctype, repo, checkout, at = history
    from_repo = load_corpus(str(repo), None, layout)
    from_folder = load_corpus(None, str(checkout), layout)
    assert _view(from_repo) == _view(from_folder)

    got = {(c, t, e) for _, c, t, e, _, _ in _view(from_folder)}
    assert got == {
        (f"{ctype}/api", ctype, "dev"),
        (f"{ctype}/web", ctype, "dev"),
        (f"{ctype}/web", ctype, "prod"),
        (f"{ctype}/worker", ctype, "prod"),
    }
    fields = {(row[1], row[3]): row[5] for row in _view(from_folder)}
    # Anchors and merge keys resolved, YAML's `on` is the key `true`, several documents are doc0, doc1.
    assert fields[(f"{ctype}/web", "dev")] == (
        "defaults.replicas", "defaults.resources.limits.cpu", "image.replicas",
        "image.resources.limits.cpu", "image.tag", "true",
    )  # fmt: skip
    worker = ("doc0.queue", "doc1.autoscaling.max", "doc1.autoscaling.min")
    assert fields[(f"{ctype}/worker", "prod")] == worker
    assert fields[(f"{ctype}/api", "dev")] == ("probe.path", "replicas")

    # The Git source's deploys name the same components (plus the deleted one), with the same types.
    extraction = extract_git_history(repo, layout=layout)
    deploys = extraction.deploy_records
    live = deploys.drop_duplicates(["component", "environment"], keep="last")
    live = live[live["action"] != "delete"]
    assert set(zip(live["component"], live["component_type"], live["environment"], strict=True)) == got
    assert (f"{ctype}/gone", "dev") in set(zip(deploys["component"], deploys["environment"], strict=True))
    # The same files are refused, for the same reasons.
    assert sorted(from_folder.skipped) == sorted({at("dev", "broken"), at("dev", "link")})
    assert set(extraction.quarantined["record_id"].str.partition(":")[2]) == set(from_folder.skipped)

    # One config file checked against the corpus: the same component and environment as its deploys.
    for env, nick in (("dev", "web"), ("prod", "worker")):
        assert component_of(checkout / at(env, nick), layout) == (f"{ctype}/{nick}", env)
        merged, key = with_config(from_folder, checkout / at(env, nick), layout)
        assert _view(merged) == _view(from_folder)
        assert key in set(from_folder.configs["key"])
