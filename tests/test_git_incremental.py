"""Git source cases on small repositories built by each test: incremental reads and rewritten history,
errors, line counts, field changes, reverts."""

from __future__ import annotations

import subprocess

import pandas as pd
import pytest

from karma_pipelines.contracts.config_diff import diff_configs
from karma_pipelines.contracts.config_fields import config_hash
from karma_pipelines.sources.git import extract_git_history
from karma_pipelines.sources.git.log import find_git_dir, read_commits
from karma_pipelines.sources.git.parse import parse_config
from karma_pipelines.sources.git.reverts import reverted_shas, reverted_subject
from karma_pipelines.sources.git.state import content_key, field_changes
from karma_pipelines.sources.git.synthetic_repo import make_repo
from tests.test_git_source import API, LOGS, GitRepo, cfg


def _assert_same(a, b):
    for name in ("deploy_records", "config_snapshots", "quarantined", "reapplied", "rollback_evidence"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), obj=name)
    assert a.last_commit == b.last_commit


def test_incremental_reads_only_new_commits_and_relabels_old_deploys(tmp_path):
    repo = GitRepo(tmp_path / "inc")
    c1 = repo.commit(0, "add api", {API: cfg({"desired_count": 2})})
    c2 = repo.commit(5, "api: 4 tasks", {API: cfg({"desired_count": 4})}, who="bo")
    repo.commit(6, "broken", {LOGS: "{"})
    first = extract_git_history(repo.path)
    assert first.commits == 3 and first.deploy_records["is_rollback"].sum() == 0
    assert first.deploy_records["labelled"].tolist() == [False, False]  # both younger than 7 days
    snapshot_of_first = first.deploy_records.copy()

    c4 = repo.revert(c2, 30, who="chidi")
    repo.commit(30 + 24 * 8, "docs", {"README.md": "x\n"})
    second = extract_git_history(repo.path, since=first.last_commit, previous=first)
    assert second.commits == 2 and not second.full_reread
    d = second.deploy_records.set_index("deploy_id")
    assert d.index.tolist() == [
        f"{c1}:ecs-service/api-dev",
        f"{c2}:ecs-service/api-dev",
        f"{c4}:ecs-service/api-dev",
    ]
    old = d.loc[f"{c2}:ecs-service/api-dev"]  # an old deploy, rolled back by a new commit
    assert bool(old["rolled_back"]) and old["rollback_delay_hours"] == 25.0
    assert d.loc[f"{c4}:ecs-service/api-dev", "rolls_back"] == f"{c2}:ecs-service/api-dev"
    assert d.loc[f"{c4}:ecs-service/api-dev", "fields_changed"] == [
        "desired_count"
    ]  # diffed vs carried config
    pd.testing.assert_frame_equal(first.deploy_records, snapshot_of_first)  # the input is not mutated

    full = extract_git_history(repo.path)
    _assert_same(second, full)
    _assert_same(extract_git_history(repo.path, since=first.last_commit, previous=first), second)
    nothing_new = extract_git_history(repo.path, previous=second)
    assert nothing_new.commits == 0 and not nothing_new.full_reread
    _assert_same(nothing_new, second)
    _assert_same(extract_git_history(repo.path), full)  # a full read twice: equal frames

    with pytest.raises(ValueError, match="since= needs previous="):
        extract_git_history(repo.path, since=c1)
    with pytest.raises(ValueError, match="last commit"):
        extract_git_history(repo.path, since=c1, previous=second)


def test_rewritten_history_falls_back_to_a_full_reread(tmp_path):
    repo = GitRepo(tmp_path / "rewrite")
    repo.commit(0, "add api", {API: cfg({"desired_count": 2})})
    repo.commit(1, "api: 3", {API: cfg({"desired_count": 3})})
    first = extract_git_history(repo.path)
    repo.git("reset", "-q", "--hard", "HEAD~1")
    c3 = repo.commit(2, "api: 5 instead", {API: cfg({"desired_count": 5})})
    again = extract_git_history(repo.path, since=first.last_commit, previous=first)
    assert again.full_reread and again.commits == 2 and again.last_commit == c3
    _assert_same(again, extract_git_history(repo.path))
    repo.git("reset", "-q", "--hard", "HEAD~1")  # moved back: also a rewrite
    assert extract_git_history(repo.path, previous=again).full_reread


def test_synthetic_repo_backtest_and_incremental_equals_full(tmp_path):
    syn = make_repo(tmp_path / "syn", commits=700, components=30, seed=3, rollback_rate=0.1)
    full = extract_git_history(syn.path)
    assert full.commits == 700 and full.last_commit == syn.head
    d = full.deploy_records
    assert set(d["action"]) == {"create", "update", "rollback", "delete"}
    assert d["deploy_id"].is_unique and len(full.quarantined) > 0
    # Every planted rollback is found, with its target and its kind of evidence.
    planted = syn.rollbacks.assign(
        deploy_id=syn.rollbacks["rollback_sha"] + ":" + syn.rollbacks["component"],
        target=syn.rollbacks["reverted_sha"] + ":" + syn.rollbacks["component"],
    ).merge(full.rollback_evidence, on="deploy_id", how="left")
    assert set(planted["kind"]) == {"revert", "revert_subject", "restore"}
    assert (planted["rolls_back"] == planted["target"]).all() and (
        planted["kind"] == planted["evidence"]
    ).all()
    originals = set(syn.reapplied["original_sha"] + ":" + syn.reapplied["component"])
    assert len(originals) > 0 and originals <= set(full.reapplied["deploy_id"])
    # Lines equal git's numstat, commit by commit (one file per component here).
    log = subprocess.run(
        ["git", "-C", str(syn.path), "log", "--first-parent", "--no-renames", "--numstat", "--format=@%H"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    numstat, sha = {}, None
    for line in log.splitlines():
        if line.startswith("@"):
            sha = line[1:]
        elif line.strip():
            plus, minus, path = line.split("\t")
            parts = path.split("/")
            if path.startswith("iac/") and plus != "-":
                numstat[f"{sha}:{parts[2]}/{parts[3]}"] = (int(plus), int(minus))
    got = dict(zip(d["deploy_id"], zip(d["lines_added"], d["lines_removed"], strict=True), strict=True))
    assert got == {k: v for k, v in numstat.items() if k in got} and set(got) <= set(numstat)
    # Split anywhere: the first part, then the rest incrementally, equals one full read.
    shas = subprocess.run(
        ["git", "-C", str(syn.path), "rev-list", "--first-parent", "--reverse", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    part = extract_git_history(syn.path, ref=shas[400])
    rest = extract_git_history(syn.path, since=part.last_commit, previous=part)
    assert rest.commits == 299
    _assert_same(rest, full)


# ---------------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------------


def test_errors_name_the_path_the_ref_and_the_layout(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(ValueError, match=f"not a Git repository: {plain}"):
        extract_git_history(plain)
    with pytest.raises(ValueError, match="not a Git repository: .*missing"):
        extract_git_history(tmp_path / "missing")
    repo = GitRepo(tmp_path / "repo")
    with pytest.raises(ValueError, match="ref 'HEAD' does not name a commit"):
        extract_git_history(repo.path)  # no commit yet
    repo.commit(0, "add api", {API: cfg({"desired_count": 2}), "src/main.py": "print()\n"})
    with pytest.raises(ValueError, match="not a Git repository"):
        extract_git_history(repo.path / "iac")  # inside a work tree is not a repository
    with pytest.raises(ValueError, match="ref 'nope' does not name a commit"):
        extract_git_history(repo.path, ref="nope")
    with pytest.raises(ValueError, match=r"layout 'charts/\{nickname\}/values.yaml' matches no file"):
        extract_git_history(repo.path, layout="charts/{nickname}/values.yaml")


# ---------------------------------------------------------------------------------------------------
# The small pieces
# ---------------------------------------------------------------------------------------------------


def test_the_log_carries_gits_line_counts(tmp_path):
    repo = GitRepo(tmp_path / "lines")
    repo.commit(0, "one", {"a.txt": "a\nb\nc\nd\n", "b.txt": "a", "c.txt": "a\nb\n", "d.bin": b"\x00x"})
    files = {"a.txt": "a\nx\nc\nd\ne\n", "b.txt": "a\n", "c.txt": "b\na\n", "d.bin": b"\x00y"}
    repo.commit(1, "two", files | {"e.txt": "1\n2\n"})
    repo.commit(2, "three", {"a.txt": None, "skipped.txt": "x\n"})
    commits = list(read_commits(find_git_dir(repo.path), "HEAD", None, lambda p: p != "skipped.txt"))
    counts = [{c.path: (c.added, c.removed) for c in commit.changes} for commit in commits]
    assert counts == [
        {"a.txt": (4, 0), "b.txt": (1, 0), "c.txt": (2, 0), "d.bin": (0, 0)},
        # a changed line and an added one; a last line gaining its newline; two lines swapped;
        # a binary file (numstat's `-`) counts 0.
        {"a.txt": (2, 1), "b.txt": (1, 1), "c.txt": (1, 1), "d.bin": (0, 0), "e.txt": (2, 0)},
        {"a.txt": (0, 5)},
    ]


def test_field_changes_equal_diff_configs_and_content_key_follows_config_hash():
    pairs = [
        ({"a": 1, "b": {"c": 2, "d": [1]}}, {"a": 2, "b": {"d": [1, 2]}, "e": {}}),
        (None, {"x": {"y": True}}),
        ({"x": {"y": True}}, None),
        ({"a": 1, "b": {"c": [1]}}, {"a": 1, "b": {"c": [2]}}),  # the same paths, a value changed
        ({"a": 1, "b": 2}, {"a": 1, "c": 2}),  # as many paths, not the same
        ({"a": float("nan"), "b": 1}, {"a": float("nan"), "b": 1}),
    ]
    for before, after in pairs:
        diff = diff_configs(before, after)
        assert field_changes(before, after) == (diff.added, diff.removed, diff.changed)
    configs = [{"a": 1, "b": [1, 2]}, {"b": [1, 2], "a": 1}, {"a": 1.0, "b": [1, 2]}, {"a": "1", "b": [1, 2]}]
    for x in configs:
        for y in configs:
            assert (content_key(x) == content_key(y)) == (config_hash(x) == config_hash(y))


def test_revert_messages_and_parsing():
    assert reverted_shas('Revert "x"\n\nThis reverts commit 0123456789abcdef.\n') == ["0123456789abcdef"]
    assert reverted_shas("This reverts commit 012345.") == []  # too short to name a commit
    assert reverted_subject('Revert "api: scale"') == "api: scale"
    assert reverted_subject('Revert "Revert "api: scale""') == 'Revert "api: scale"'
    assert reverted_subject('Reapply "api: scale"') == 'Revert "api: scale"'
    assert reverted_subject('Revert "api: scale" (#12)') == "api: scale"
    assert reverted_subject("api: scale") is None
    assert parse_config("a.yml", b"on: yes\n2: x\n").doc == {"true": True, "2": "x"}
    assert parse_config("a.yaml", b"").doc == {}
    assert parse_config("a.conf", b'{"a": 1}').doc == {"a": 1}
    assert parse_config("a.conf", b"a: 1\n").doc == {"a": 1}
    assert parse_config("a.json", b"\xff\xfe").reason.startswith("parse_error(a.json): not UTF-8")
