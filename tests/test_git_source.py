"""Git history as a source: real repositories built with the git CLI, every record checked exactly."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from karma_pipelines.contracts.config_fields import config_hash, diff_configs
from karma_pipelines.contracts.schema import CONFIG_SNAPSHOTS, DEPLOY_RECORDS, QUARANTINED_RECORDS
from karma_pipelines.records.labels import apply_rollback_labels
from karma_pipelines.sources.git import Layout, extract_git_history
from karma_pipelines.sources.git.log import find_git_dir, read_commits
from karma_pipelines.sources.git.parse import parse_config
from karma_pipelines.sources.git.reverts import reverted_shas, reverted_subject
from karma_pipelines.sources.git.state import content_key, field_changes
from karma_pipelines.sources.git.synthetic_repo import make_repo

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


def test_layout_matching_rules():
    default = Layout("iac/{env}/{component_type}/{nickname}/config.json")
    m = default.match("iac/prod/vpc/core/config.json")
    assert (m.environment, m.component, m.file_key) == ("prod", "vpc/core", "config.json")
    assert default.match("iac/prod/vpc/core/other.json") is None
    assert default.match("iac/prod/vpc/core/sub/config.json") is None and not default.multi_file
    charts = Layout("charts/{nickname}/values.yaml")
    m = charts.match("charts/web/values.yaml")
    assert (m.environment, m.component_type, m.nickname, m.file_key) == (
        "default",
        "charts",
        "web",
        "values.yaml",
    )
    helm = Layout("helmfile.d/{component_type}/{nickname}/*.yaml")
    m = helm.match("helmfile.d/release/web/prod.yaml")
    assert (m.component, m.file_key) == ("release/web", "prod.yaml") and helm.multi_file
    assert helm.match("helmfilexd/release/web/prod.yaml") is None  # the dot is literal
    flat = Layout("{component_type}/{nickname}.json")
    m = flat.match("lambda/resizer.json")
    assert (m.component, m.file_key) == ("lambda/resizer", "resizer.json")
    assert Layout("{nickname}.json").match("web.json").component == "component/web"
    deep = Layout("**/{component_type}/{nickname}/config.json")
    assert deep.match("a/b/vpc/core/config.json").component == "vpc/core"
    assert deep.match("vpc/core/config.json").component == "vpc/core"
    tree = Layout("charts/{nickname}/**/*.yaml")
    assert tree.match("charts/web/templates/deploy.yaml").file_key == "templates/deploy.yaml"
    for bad in ("iac/{env}/config.json", "iac/{nick}/x.json"):
        with pytest.raises(ValueError, match="layout"):
            Layout(bad)


def test_yaml_anchors_merge_keys_documents_and_two_files_merged(tmp_path):
    repo = GitRepo(tmp_path / "helm")
    values = (
        "defaults: &defaults\n  replicas: 2\n  image: {repository: web, tag: '1.0'}\n"
        "web:\n  <<: *defaults\n  replicas: 3\n"
    )
    env = "region: eu-west-1\n---\nfeature:\n  beta: true\n"
    base = "helmfile.d/release/web"
    c1 = repo.commit(
        0, "web release", {f"{base}/values.yaml": values, f"{base}/env.yaml": env, "x.yaml": "a: 1\n"}
    )
    c2 = repo.commit(1, "move region", {f"{base}/env.yaml": env.replace("eu-west-1", "us-east-1")})
    c3 = repo.commit(2, "db creds", {f"{base}/db.yaml": "db_password: hunter2\ndb_name: web\n"})
    result = extract_git_history(repo.path, layout="helmfile.d/{component_type}/{nickname}/*.yaml")
    d = result.deploy_records
    assert d["deploy_id"].tolist() == [f"{c1}:release/web", f"{c2}:release/web", f"{c3}:release/web"]
    assert d["environment"].tolist() == ["default"] * 3 and d["action"].tolist() == [
        "create",
        "update",
        "update",
    ]
    assert d["fields_added"].iloc[0] == [
        "env.yaml.doc0.region",
        "env.yaml.doc1.feature.beta",
        "values.yaml.defaults.image.repository",
        "values.yaml.defaults.image.tag",
        "values.yaml.defaults.replicas",
        "values.yaml.web.image.repository",
        "values.yaml.web.image.tag",
        "values.yaml.web.replicas",
    ]
    assert (d["lines_added"].iloc[0], d["lines_removed"].iloc[0]) == (10, 0)
    assert d["fields_changed"].iloc[1] == ["env.yaml.doc0.region"] and d["fields_added"].iloc[1] == []
    assert (d["lines_added"].iloc[1], d["lines_removed"].iloc[1]) == (1, 1)
    assert d["fields_added"].iloc[2] == ["db.yaml.db_name", "db.yaml.db_password"]
    snap = result.config_snapshots
    first = json.loads(snap["config_json"].iloc[0])
    assert first["values.yaml"]["web"] == {"replicas": 3, "image": {"repository": "web", "tag": "1.0"}}
    assert first["env.yaml"] == {"doc0": {"region": "eu-west-1"}, "doc1": {"feature": {"beta": True}}}
    last = json.loads(snap["config_json"].iloc[2])
    assert last["db.yaml"] == {"db_password": "***REDACTED***", "db_name": "web"}  # redacted
    assert "db.yaml.db_password" in snap["field_paths"].iloc[2]
    assert result.quarantined.empty


def test_charts_layout_and_files_that_are_not_configs(tmp_path):
    repo = GitRepo(tmp_path / "charts")
    c1 = repo.commit(
        0,
        "charts",
        {
            "charts/web/values.yaml": "replicas: 2\n",
            "charts/web/templates/deploy.yaml": "kind: Deployment\n",
            "charts/api/values.yaml": "replicas: [unclosed\n",
            "charts/img/values.yaml": b"\x89PNG\x00\x00binary",
            "charts/big/values.yaml": "pad: '" + "x" * 300 + "'\n",
            "charts/list/values.yaml": "- a\n- b\n",
        },
    )
    result = extract_git_history(repo.path, layout="charts/{nickname}/values.yaml", max_file_bytes=200)
    d = result.deploy_records
    assert d["deploy_id"].tolist() == [f"{c1}:charts/web"]
    assert d["component_type"].tolist() == ["charts"] and d["fields_added"].iloc[0] == ["replicas"]
    reasons = dict(zip(result.quarantined["record_id"], result.quarantined["reasons"], strict=True))
    assert reasons == {
        f"{c1}:charts/api/values.yaml": "parse_error(charts/api/values.yaml): while parsing a flow sequence; "
        "did not find expected ',' or ']' at line 2, column 1",
        f"{c1}:charts/big/values.yaml": "oversized(charts/big/values.yaml): 308 bytes > 200",
        f"{c1}:charts/img/values.yaml": "binary(charts/img/values.yaml)",
        f"{c1}:charts/list/values.yaml": "parse_error(charts/list/values.yaml): "
        "top level is a list, expected a mapping",
    }
    # The bad file fixed: its first deploy is a create; the file's broken text is what the lines diff.
    c2 = repo.commit(1, "fix api", {"charts/api/values.yaml": "replicas: [1]\n"})
    again = extract_git_history(repo.path, layout="charts/{nickname}/values.yaml", max_file_bytes=200)
    row = again.deploy_records.iloc[-1]
    assert (row["deploy_id"], row["action"], row["lines_added"], row["lines_removed"]) == (
        f"{c2}:charts/api",
        "create",
        1,
        1,
    )


def test_same_component_in_two_environments_and_a_merge_commit(tmp_path):
    repo = GitRepo(tmp_path / "envs")
    dev, prod = "iac/dev/vpc/core/config.json", "iac/prod/vpc/core/config.json"
    c1 = repo.commit(
        0, "vpc everywhere", {dev: cfg({"cidr": "10.0.0.0/16"}), prod: cfg({"cidr": "10.1.0.0/16"})}
    )
    repo.git("checkout", "-q", "-b", "feature")
    side = repo.commit(1, "prod: 3 AZs", {prod: cfg({"cidr": "10.1.0.0/16", "az_count": 3})}, who="bo")
    repo.git("checkout", "-q", "main")
    repo.commit(2, "unrelated", {"README.md": "x\n"})
    repo.git(
        "merge",
        "-q",
        "--no-ff",
        "-m",
        "Merge pull request #7 from bo/feature",
        "feature",
        env=repo._env(3, "dana"),
    )
    merge = repo.git("rev-parse", "HEAD")
    result = extract_git_history(repo.path)
    d = result.deploy_records
    assert d["deploy_id"].tolist() == [f"{c1}:vpc/core@dev", f"{c1}:vpc/core@prod", f"{merge}:vpc/core"]
    assert d["environment"].tolist() == ["dev", "prod", "prod"]
    assert side not in d["change_id"].tolist()  # not on the first-parent history
    merged = d.iloc[2]
    assert (
        merged["message"] == "Merge pull request #7 from bo/feature"
        and merged["author"] == "dana@example.com"
    )
    assert (
        merged["deployed_at"] == at(3)
        and merged["fields_added"] == ["az_count"]
        and merged["action"] == "update"
    )
    assert result.commits == 3


def test_a_commit_that_does_not_change_the_parsed_config_is_not_a_deploy(tmp_path):
    repo = GitRepo(tmp_path / "noop")
    c1 = repo.commit(0, "add", {API: cfg({"desired_count": 2, "cpu": 256})})
    repo.commit(1, "reformat", {API: '{"cpu": 256,\n "desired_count": 2}\n'})  # same config, new text
    repo.commit(2, "break", {API: '{"cpu": 256,'})
    repo.commit(3, "unbreak", {API: cfg({"desired_count": 2, "cpu": 256})})  # back to the same config
    c5 = repo.commit(4, "scale", {API: cfg({"desired_count": 3, "cpu": 256})})
    result = extract_git_history(repo.path)
    d = result.deploy_records
    assert d["deploy_id"].tolist() == [f"{c1}:ecs-service/api-dev", f"{c5}:ecs-service/api-dev"]
    assert d["fields_changed"].tolist() == [[], ["desired_count"]] and result.commits == 5
    assert len(result.quarantined) == 1


def test_deletes_are_not_restores_but_a_re_create_with_the_old_content_is(tmp_path):
    repo = GitRepo(tmp_path / "recreate")
    c1 = repo.commit(0, "add", {API: cfg({"desired_count": 2})})
    c2 = repo.commit(1, "remove", {API: None})  # absence is not content: not a rollback of c1
    c3 = repo.commit(2, "add it back", {API: cfg({"desired_count": 2})})
    c4 = repo.revert(c3, 3)  # a git revert of the re-create: a delete that is a rollback
    d = extract_git_history(repo.path).deploy_records
    key = "ecs-service/api-dev"
    rows = [(r.deploy_id, r.action, None if pd.isna(r.rolls_back) else r.rolls_back) for r in d.itertuples()]
    assert rows == [
        (f"{c1}:{key}", "create", None),
        (f"{c2}:{key}", "delete", None),
        (f"{c3}:{key}", "rollback", f"{c2}:{key}"),
        (f"{c4}:{key}", "rollback", f"{c3}:{key}"),
    ]
    assert d["fields_removed"].iloc[3] == ["desired_count"] and d["lines_removed"].iloc[3] == 3


# ---------------------------------------------------------------------------------------------------
# Incremental runs and idempotence
# ---------------------------------------------------------------------------------------------------


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


def test_labels_agree_with_apply_rollback_labels(scenario):
    _, _, result = scenario
    relabelled = apply_rollback_labels(result.deploy_records, as_of=at(524))
    pd.testing.assert_frame_equal(DEPLOY_RECORDS.conform(relabelled), result.deploy_records)
