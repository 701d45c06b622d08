"""Git history as a source: real repositories built with the git CLI, every record checked exactly."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from karma_pipelines.contracts.config_fields import config_hash
from karma_pipelines.contracts.schema import CONFIG_SNAPSHOTS, DEPLOY_RECORDS, QUARANTINED_RECORDS
from karma_pipelines.records.labels import apply_rollback_labels
from karma_pipelines.sources.git import extract_git_history

T0 = pd.Timestamp("2026-01-05 10:00", tz="UTC")
PEOPLE = {
    "ana": ("Ana Souza", "ana@example.com"),
    "bo": ("Bo Chen", "bo@example.com"),
    "chidi": ("Chidi Okafor", "chidi@example.com"),
    "dana": ("Dana Levi", "dana@example.com"),
}
VPC = "iac/dev/vpc/core-dev/config.json"
API = "iac/dev/ecs-service/api-dev/config.json"
API2 = "iac/dev/ecs-service/api2-dev/config.json"
LOGS = "iac/dev/s3-bucket/logs-dev/config.json"
LINK = "iac/dev/s3-bucket/link-dev/config.json"
ARCHIVE = "iac/dev/s3-bucket/archive-dev/config.json"


def cfg(config: dict) -> str:
    return json.dumps(config, indent=2) + "\n"


class GitRepo:
    """A real repository in a temp folder; every commit's people and times are set explicitly."""

    def __init__(self, path: Path):
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str, env: dict | None = None, input: str | None = None) -> str:
        base = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        base |= {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
        proc = subprocess.run(
            ["git", *args], cwd=self.path, env=base | (env or {}), input=input, capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    def _env(self, hours: float, who: str) -> dict:
        name, email = PEOPLE[who]
        when = T0 + pd.Timedelta(hours=hours)
        return {
            "GIT_AUTHOR_NAME": name,
            "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": "CI",
            "GIT_COMMITTER_EMAIL": "ci@example.com",
            # Authored 5 minutes before it landed: deployed_at must be the committer time.
            "GIT_AUTHOR_DATE": (when - pd.Timedelta(minutes=5)).isoformat(),
            "GIT_COMMITTER_DATE": when.isoformat(),
        }

    def write(self, files: dict[str, str | bytes | None]) -> None:
        for rel, content in files.items():
            target = self.path / rel
            if content is None:
                target.unlink()
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content)

    def commit(self, hours: float, message: str, files: dict | None = None, who: str = "ana") -> str:
        self.write(files or {})
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-F", "-", env=self._env(hours, who), input=message)
        return self.git("rev-parse", "HEAD")

    def revert(self, sha: str, hours: float, who: str = "ana") -> str:
        self.git("revert", "--no-edit", sha, env=self._env(hours, who))
        return self.git("rev-parse", "HEAD")


def at(hours: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(hours=hours)


# ---------------------------------------------------------------------------------------------------
# The main scenario: default layout, every kind of change and rollback, labels at the horizon.
# ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    repo = GitRepo(tmp_path_factory.mktemp("scenario") / "repo")
    api = {"desired_count": 2, "cpu": 256, "vpc_nickname": "core-dev"}
    vpc = {"cidr": "10.0.0.0/16", "az_count": 2, "tags": {"Owner": "ana"}}
    c = {}
    c[1] = repo.commit(
        0, "Add core vpc and api service", {VPC: cfg(vpc), API: cfg(api), "README.md": "# infra\n"}
    )
    c[2] = repo.commit(1, "api: scale to 3", {API: cfg({**api, "desired_count": 3})}, who="bo")
    c[3] = repo.revert(c[2], 2, who="chidi")  # (a) git revert
    c[4] = repo.revert(c[3], 3, who="dana")  # revert of the revert: c2 is re-applied
    c[5] = repo.commit(10, "vpc: widen to 3 AZs", {VPC: cfg({**vpc, "az_count": 3})}, who="bo")
    c[6] = repo.commit(12, 'Revert "vpc: widen to 3 AZs"', {VPC: cfg(vpc)}, who="chidi")  # (b) subject
    api3 = {**api, "desired_count": 3}
    c[7] = repo.commit(20, "api: bump cpu", {API: cfg({**api3, "cpu": 512})})
    c[8] = repo.commit(22, "api: add memory", {API: cfg({**api3, "cpu": 512, "memory": 1024})})
    c[9] = repo.commit(30, "api: previous sizing", {API: cfg(api3)}, who="dana")  # (c) restore by hand
    # vpc is back at its first content: a restore to it undoes the latest change from it (9.5), not 5.
    c[9.5] = repo.commit(32, "vpc: team tag", {VPC: cfg({**vpc, "tags": {"Owner": "ana", "Team": "net"}})})
    c[9.6] = repo.commit(33, "vpc: untag", {VPC: cfg(vpc)})
    c[10] = repo.commit(40, "Add logs bucket", {LOGS: cfg({"versioning": True, "force_destroy": False})})
    broken = '{\n  "versioning": true,\n  "force_destroy": false,\n}\n'
    c[11] = repo.commit(41, "wip logs", {LOGS: broken}, who="bo")
    c[12] = repo.commit(42, "logs: fix config", {LOGS: cfg({"versioning": True, "force_destroy": True})})
    (repo.path / LINK).parent.mkdir(parents=True)
    os.symlink("../logs-dev/config.json", repo.path / LINK)
    c[13] = repo.commit(50, "link bucket config")
    repo.git("mv", "iac/dev/ecs-service/api-dev", "iac/dev/ecs-service/api2-dev")
    c[14] = repo.commit(60, "Rename api-dev to api2-dev")
    c[15] = repo.commit(70, "Decommission core vpc", {VPC: None})
    c[16] = repo.commit(216, "logs: no versioning", {LOGS: cfg({"versioning": False, "force_destroy": True})})
    c[17] = repo.revert(c[16], 408, who="bo")  # 8 days later: after the horizon
    c[18] = repo.commit(500, "Add archive bucket", {ARCHIVE: cfg({"versioning": True})}, who="chidi")
    c[19] = repo.commit(524, "docs: readme", {"README.md": "# infra\n\nConfigs live in iac/.\n"})
    return repo, c, extract_git_history(repo.path)


def test_every_deploy_record_exactly(scenario):
    repo, c, result = scenario
    d = result.deploy_records
    assert list(d.columns) == DEPLOY_RECORDS.names
    pd.testing.assert_frame_equal(d, DEPLOY_RECORDS.conform(d))
    api, vpc, logs = "ecs-service/api-dev", "vpc/core-dev", "s3-bucket/logs-dev"
    # (commit, component, action, added, removed, changed, lines +, lines -, rolls back (commit, component))
    expected = [
        (1, api, "create", ["cpu", "desired_count", "vpc_nickname"], [], [], 5, 0, None),
        (1, vpc, "create", ["az_count", "cidr", "tags.Owner"], [], [], 7, 0, None),
        (2, api, "update", [], [], ["desired_count"], 1, 1, None),
        (3, api, "rollback", [], [], ["desired_count"], 1, 1, (2, api)),
        (4, api, "rollback", [], [], ["desired_count"], 1, 1, (3, api)),
        (5, vpc, "update", [], [], ["az_count"], 1, 1, None),
        (6, vpc, "rollback", [], [], ["az_count"], 1, 1, (5, vpc)),
        (7, api, "update", [], [], ["cpu"], 1, 1, None),
        (8, api, "update", ["memory"], [], [], 2, 1, None),
        (9, api, "rollback", [], ["memory"], ["cpu"], 2, 3, (7, api)),
        (9.5, vpc, "update", ["tags.Team"], [], [], 2, 1, None),
        (9.6, vpc, "rollback", [], ["tags.Team"], [], 1, 2, (9.5, vpc)),
        (10, logs, "create", ["force_destroy", "versioning"], [], [], 4, 0, None),
        (12, logs, "update", [], [], ["force_destroy"], 1, 1, None),
        (14, api, "delete", [], ["cpu", "desired_count", "vpc_nickname"], [], 0, 5, None),
        (14, "ecs-service/api2-dev", "create", ["cpu", "desired_count", "vpc_nickname"], [], [], 5, 0, None),
        (15, vpc, "delete", [], ["az_count", "cidr", "tags.Owner"], [], 0, 7, None),
        (16, logs, "update", [], [], ["versioning"], 1, 1, None),
        (17, logs, "rollback", [], [], ["versioning"], 1, 1, (16, logs)),
        (18, "s3-bucket/archive-dev", "create", ["versioning"], [], [], 3, 0, None),
    ]
    assert len(d) == len(expected)
    authors = {2: "bo", 3: "chidi", 4: "dana", 5: "bo", 6: "chidi", 9: "dana", 17: "bo", 18: "chidi"}
    hours = {1: 0, 2: 1, 3: 2, 4: 3, 5: 10, 6: 12, 7: 20, 8: 22, 9: 30, 9.5: 32, 9.6: 33, 10: 40, 12: 42}
    hours |= {14: 60, 15: 70}
    hours |= {16: 216, 17: 408, 18: 500}
    for row, (n, comp, action, added, removed, changed, plus, minus, rb) in zip(
        d.itertuples(index=False), expected, strict=True
    ):
        assert row.deploy_id == f"{c[n]}:{comp}"
        assert row.change_id == c[n]
        assert row.component == comp and (row.component_type, row.nickname) == tuple(comp.split("/"))
        assert row.environment == "dev" and row.source == "git" and row.outcome == "succeeded"
        assert row.deployed_at == at(hours[n]), n
        assert row.author == PEOPLE[authors.get(n, "ana")][1]
        assert row.action == action, n
        assert (row.fields_added, row.fields_removed, row.fields_changed) == (added, removed, changed), n
        assert (row.n_fields_added, row.n_fields_removed, row.n_fields_changed) == (
            len(added),
            len(removed),
            len(changed),
        )
        assert (row.lines_added, row.lines_removed) == (plus, minus), n
        assert row.is_rollback == (rb is not None)
        assert (None if pd.isna(row.rolls_back) else row.rolls_back) == (rb and f"{c[rb[0]]}:{rb[1]}"), n
    messages = d.set_index("deploy_id")["message"]
    assert messages[f"{c[3]}:{api}"] == 'Revert "api: scale to 3"'
    assert messages[f"{c[4]}:{api}"] == 'Revert "Revert "api: scale to 3""'
    assert messages[f"{c[1]}:{vpc}"] == "Add core vpc and api service"


def test_labels_delays_and_the_unlabelled_tail(scenario):
    _, c, result = scenario
    d = result.deploy_records.set_index("deploy_id")
    api, vpc, logs = "ecs-service/api-dev", "vpc/core-dev", "s3-bucket/logs-dev"
    rolled = {(2, api): 1.0, (3, api): 1.0, (5, vpc): 2.0, (7, api): 10.0, (9.5, vpc): 1.0}
    for (n, comp), delay in rolled.items():
        row = d.loc[f"{c[n]}:{comp}"]
        assert bool(row["labelled"]) and bool(row["rolled_back"]), (n, comp)
        assert row["rollback_delay_hours"] == delay
        assert row["rolled_back_at"] == row["deployed_at"] + pd.Timedelta(hours=delay)
    # Rolled back 8 days later: labelled negative (the horizon is 7 days), the delay is kept.
    late = d.loc[f"{c[16]}:{logs}"]
    assert bool(late["labelled"]) and bool(late["rolled_back"]) is False
    assert late["rollback_delay_hours"] == 192.0 and late["rolled_back_at"] == at(408)
    # Younger than the horizon at the last commit (hour 524): unlabelled.
    for key in (f"{c[17]}:{logs}", f"{c[18]}:s3-bucket/archive-dev"):
        assert not bool(d.loc[key, "labelled"]) and pd.isna(d.loc[key, "rolled_back"])
    negatives = d[d["labelled"] & ~d["rolled_back"].fillna(False).astype(bool)]
    assert len(negatives) == len(d) - len(rolled) - 2
    assert negatives["rollback_delay_hours"].notna().sum() == 1  # only the late one has a delay
    # A given as_of moves the end of history.
    later = extract_git_history(scenario[0].path, as_of=at(24 * 40))
    assert later.deploy_records["labelled"].all()


def test_rollback_evidence_and_reapplied(scenario):
    _, c, result = scenario
    api, vpc, logs = "ecs-service/api-dev", "vpc/core-dev", "s3-bucket/logs-dev"
    evidence = result.rollback_evidence
    assert evidence.values.tolist() == [
        [f"{c[3]}:{api}", f"{c[2]}:{api}", "revert"],
        [f"{c[4]}:{api}", f"{c[3]}:{api}", "revert"],
        [f"{c[6]}:{vpc}", f"{c[5]}:{vpc}", "revert_subject"],
        [f"{c[9]}:{api}", f"{c[7]}:{api}", "restore"],
        [f"{c[9.6]}:{vpc}", f"{c[9.5]}:{vpc}", "restore"],
        [f"{c[17]}:{logs}", f"{c[16]}:{logs}", "revert"],
    ]
    assert result.reapplied.values.tolist() == [[f"{c[2]}:{api}", f"{c[4]}:{api}"]]


def test_snapshots_and_quarantine(scenario):
    repo, c, result = scenario
    s = result.config_snapshots
    assert list(s.columns) == CONFIG_SNAPSHOTS.names
    assert s["deploy_id"].tolist() == result.deploy_records["deploy_id"].tolist()
    snap = s.set_index("deploy_id")
    first = snap.loc[f"{c[1]}:ecs-service/api-dev"]
    config = {"desired_count": 2, "cpu": 256, "vpc_nickname": "core-dev"}
    assert json.loads(first["config_json"]) == config and first["config_hash"] == config_hash(config)
    assert first["references"] == ["vpc/core-dev"] and first["n_fields"] == 3
    assert first["captured_at"] == at(0)
    gone = snap.loc[f"{c[15]}:vpc/core-dev"]  # deleted: an empty config
    assert gone["config_json"] == "{}" and gone["n_fields"] == 0 and gone["field_paths"] == []
    q = result.quarantined
    assert list(q.columns) == QUARANTINED_RECORDS.names
    assert q[["quarantine_id", "table", "record_id", "reasons", "n_reasons"]].values.tolist() == [
        [
            f"git_files:{c[11]}:{LOGS}",
            "git_files",
            f"{c[11]}:{LOGS}",
            f"parse_error({LOGS}): Expecting property name enclosed in double quotes at line 4, column 1",
            1,
        ],
        [f"git_files:{c[13]}:{LINK}", "git_files", f"{c[13]}:{LINK}", f"symlink({LINK})", 1],
    ]
    record = json.loads(q["record"].iloc[0])
    assert record["commit"] == c[11] and record["path"] == LOGS and record["author"] == "bo@example.com"
    assert record["component"] == "s3-bucket/logs-dev" and record["committed_at"] == at(41).isoformat()


def test_counts_and_state_of_the_run(scenario):
    repo, c, result = scenario
    assert result.commits == 21 and result.last_commit == c[19] and not result.full_reread


def test_line_counts_equal_git_numstat(scenario):
    repo, c, result = scenario
    for row in result.deploy_records.itertuples(index=False):
        paths = [p for p in (VPC, API, API2, LOGS, ARCHIVE) if row.nickname in p.split("/")]
        out = repo.git("show", "--numstat", "--format=", "--no-renames", row.change_id, "--", *paths)
        plus = sum(int(line.split("\t")[0]) for line in out.splitlines())
        minus = sum(int(line.split("\t")[1]) for line in out.splitlines())
        assert (row.lines_added, row.lines_removed) == (plus, minus), row.deploy_id


def test_bare_clone_and_named_ref_read_the_same(scenario, tmp_path):
    repo, c, result = scenario
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo.path), str(bare)], check=True)
    again = extract_git_history(bare, ref="main")
    pd.testing.assert_frame_equal(again.deploy_records, result.deploy_records)
    pd.testing.assert_frame_equal(again.config_snapshots, result.config_snapshots)
    pd.testing.assert_frame_equal(again.quarantined, result.quarantined)
    # A ref in the past: only its history, labelled at its own last commit.
    past = extract_git_history(repo.path, ref=c[9])
    assert past.commits == 9 and past.last_commit == c[9]
    assert past.deploy_records["deploy_id"].tolist() == result.deploy_records["deploy_id"].tolist()[:10]
    assert not past.deploy_records["labelled"].iloc[-1]


# ---------------------------------------------------------------------------------------------------
# Other layouts, YAML, files that cannot be configs
# ---------------------------------------------------------------------------------------------------


def test_labels_agree_with_apply_rollback_labels(scenario):
    _, _, result = scenario
    relabelled = apply_rollback_labels(result.deploy_records, as_of=at(524))
    pd.testing.assert_frame_equal(DEPLOY_RECORDS.conform(relabelled), result.deploy_records)
