"""Git source cases on small repositories built by each test: layouts, YAML, environments and merges,
what is and is not a deploy."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest

from karma_pipelines.sources.git import Layout, extract_git_history
from tests.test_git_source import API, GitRepo, at, cfg


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


# Files of `charts/{nickname}/values.yaml` that are not configs (and one that is, and one no layout
# names): tests/test_bad_input_summary.py reuses them.
CHARTS_FILES = {
    "charts/web/values.yaml": "replicas: 2\n",
    "charts/web/templates/deploy.yaml": "kind: Deployment\n",
    "charts/api/values.yaml": "replicas: [unclosed\n",
    "charts/img/values.yaml": b"\x89PNG\x00\x00binary",
    "charts/big/values.yaml": "pad: '" + "x" * 300 + "'\n",
    "charts/list/values.yaml": "- a\n- b\n",
}


def test_charts_layout_and_files_that_are_not_configs(tmp_path):
    repo = GitRepo(tmp_path / "charts")
    c1 = repo.commit(0, "charts", CHARTS_FILES)
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


# ---------------------------------------------------------------------------------------------------
# File names that are not UTF-8
# ---------------------------------------------------------------------------------------------------

# Two component folders whose names are different invalid UTF-8 bytes: decoded with replacement they
# would both be `core-\ufffd`, one component.
NON_UTF8 = (b"core-\xff", b"core-\xfe")


def non_utf8_history(repo: GitRepo) -> None:
    """Three commits: both folders created, one's config changed, the other's broken."""
    files = {
        os.fsdecode(b"iac/dev/vpc/" + name + b"/config.json"): cfg({"cidr": f"10.{i}.0.0/16"})
        for i, name in enumerate(NON_UTF8)
    }
    repo.commit(0, "two vpcs", files)
    repo.commit(1, "widen one", {next(iter(files)): cfg({"cidr": "10.0.0.0/8"})})
    repo.commit(2, "break the other", {list(files)[1]: "{not json"})


def test_file_names_that_are_not_utf8_stay_distinct_and_are_written_as_text(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from karma_pipelines.pipeline.tables import load_tables
    from karma_pipelines.records import DEFAULT_HORIZON
    from karma_pipelines.sources.git.source import GitSource

    repo = GitRepo(tmp_path / "names")
    non_utf8_history(repo)
    tables = load_tables(GitSource(repo.path), DEFAULT_HORIZON)
    d = tables.deploy_records
    # Two components, each its own deploys: undecodable bytes are written as `\xNN`, distinctly.
    assert sorted(set(d["component"])) == ["vpc/core-\\xfe", "vpc/core-\\xff"]
    assert d.groupby("component")["action"].apply(list).to_dict() == {
        "vpc/core-\\xfe": ["create"],
        "vpc/core-\\xff": ["create", "update"],
    }
    broken = tables.quarantined[tables.quarantined["table"] == "git_files"]
    assert [r.partition(":")[2] for r in broken["record_id"]] == ["iac/dev/vpc/core-\\xfe/config.json"]
    assert json.loads(broken["record"].iloc[0])["component"] == "vpc/core-\\xfe"
    for name, frame in (
        ("deploys", d), ("snapshots", tables.config_snapshots), ("quarantine", tables.quarantined)
    ):  # fmt: skip
        frame.to_json(orient="records", lines=True).encode("utf-8")
        pq.write_table(pa.Table.from_pandas(frame.astype(str)), tmp_path / f"{name}.parquet")
    assert set(tables.config_snapshots["component"]) == set(d["component"])
    # A checkout read as a folder (`suggest --configs`): the same two components, the broken one skipped.
    from karma_pipelines.suggester.corpus import corpus_from_folder

    folder = corpus_from_folder(repo.path)
    assert sorted(folder.configs["component"]) == ["vpc/core-\\xff"]
    assert folder.skipped == ["iac/dev/vpc/core-\\xfe/config.json"]
