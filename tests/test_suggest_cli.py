"""`karma-pipelines suggest` on a plain folder of configs: JSON shape, one extra config file, errors."""

import csv
import json

import pytest

from karma_pipelines.apps.cli import main
from karma_pipelines.simulator import SimulationConfig, simulate_world


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("sg") / "world"
    simulate_world(root, SimulationConfig(seed=5, components=90, days=60))
    return root


def _field_paths(config: dict, prefix: str = "") -> set[str]:
    """Every key of a config as a dotted path, nested keys included (`a`, `a.b`)."""
    found = set()
    for key, value in config.items():
        found.add(prefix + key)
        if isinstance(value, dict):
            found |= _field_paths(value, f"{prefix}{key}.")
    return found


def test_suggest_json_for_one_component_and_for_all(world, capsys):
    configs = str(world / "configs")
    assert main(["suggest", "--configs", configs, "--json", "--top", "3"]) == 0
    everything = json.loads(capsys.readouterr().out)
    # One item per config file of the default layout (iac/<env>/<type>/<nickname>/config.json), read here.
    on_disk = {
        f"{path.parent.parent.name}/{path.parent.name}": path
        for path in (world / "configs").glob("iac/*/*/*/config.json")
    }
    assert len(on_disk) == 90  # the world's 90 components, each with its config file
    assert isinstance(everything, list) and len(everything) == len(on_disk)
    assert {item["component"] for item in everything} == set(on_disk)  # each one once
    for item in everything:
        assert set(item) == {"component", "environment", "component_type", "missing", "unused", "ranker"}
        path = on_disk[item["component"]]
        assert (item["environment"], item["component_type"]) == (path.parts[-4], path.parts[-3])
        fields = _field_paths(json.loads(path.read_text()))
        for kind in ("missing", "unused"):
            assert len(item[kind]) <= 3
            assert all(set(s) == {"field", "score", "reason"} for s in item[kind])
            scores = [s["score"] for s in item[kind]]
            assert scores == sorted(scores, reverse=True) and all(0 < x <= 1 for x in scores)
            assert all(
                s["reason"] != "corpus evidence" for s in item[kind]
            )  # the fallback: no evidence named
        assert not {s["field"] for s in item["missing"]} & fields  # missing: not set by the config
        assert {s["field"] for s in item["unused"]} <= fields  # unused: set by it
    # Most mistakes the simulator planted in the configs (its ground truth) are among the suggestions.
    with (world / "ground_truth" / "config_mistakes.csv").open() as f:
        planted = {(m["component"], m["field"], m["kind"]) for m in csv.DictReader(f)}
    suggested = {
        (i["component"], s["field"], kind)
        for i in everything
        for kind in ("missing", "unused")
        for s in i[kind]
    }
    assert len(planted) >= 10 and len(planted & suggested) >= 0.6 * len(planted)
    first = everything[0]

    key = first["component"]
    assert main(["suggest", "--configs", configs, "--component", key, "--json"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert one["component"] == key


def test_suggest_flags_a_misspelt_field_in_a_config_file(world, tmp_path, capsys):
    source = sorted((world / "configs" / "iac" / "prod" / "vpc").glob("*/config.json"))[0]
    config = json.loads(source.read_text())
    config["az_cuont"] = config.pop("az_count", 2)  # a typo of a field every vpc sets
    path = tmp_path / "iac" / "prod" / "vpc" / source.parent.name / "config.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(config))
    assert main(["suggest", "--configs", str(world / "configs"), "--config", str(path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["component"] == f"vpc/{source.parent.name}"
    assert "az_cuont" in [s["field"] for s in result["unused"]]
    assert "az_count" in [s["field"] for s in result["missing"]]


def test_suggest_errors_are_clear(world, capsys):
    assert main(["suggest", "--configs", str(world / "configs"), "--component", "vpc/nope"]) == 2
    assert "no such component" in capsys.readouterr().err
    assert main(["suggest", "--configs", str(world), "--layout", "x/{nickname}.toml"]) == 2
    assert "matches no config" in capsys.readouterr().err


def test_suggest_with_iac_reports_per_type_and_flags_what_no_terraform_reads(tmp_path, capsys):
    configs, iac = tmp_path / "configs", tmp_path / "iac" / "components"
    for i in range(8):
        doc = {"content_bucket_prefix": f"b{i}", "index_document": "index.html", "tags": {"Owner": "x"}}
        path = configs / "iac" / "prod" / "serverless-site" / f"site{i}" / "config.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(doc))
    (iac / "serverless-site").mkdir(parents=True)
    (iac / "serverless-site" / "header.tf").write_text(
        'data "aws_ssm_parameter" "config" {\n  name = "/iac/serverless-site/x/config"\n}\n'
        "locals {\n  config = try(nonsensitive(jsondecode(data.aws_ssm_parameter.config.value)), {})\n}\n"
    )
    (iac / "serverless-site" / "main.tf").write_text(
        'resource "aws_s3_bucket" "site" {\n  bucket = local.config.content_bucket_prefix\n'
        "  tags = try(local.config.tags, {})\n}\n"
        'data "aws_ami" "a" {\n  filter { name = "name"; values = ["x"] }\n}\n'
    )
    (iac / "vpc").mkdir()
    (iac / "vpc" / "README.md").write_text("later\n")
    args = ["suggest", "--configs", str(configs), "--iac", str(tmp_path / "iac")]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "code evidence from" in text and "1 of 2 type(s) with a config root" in text
    assert "vpc (components/vpc): no code evidence: no .tf files" in text
    assert (
        "config roots: local.config (data.aws_ssm_parameter.config, components/serverless-site/header.tf:5)"
        in text
    )
    assert 'components/serverless-site/main.tf:6 in data "aws_ami" "a": UnexpectedToken' in text
    assert "index_document: set in 8 configs of serverless-site, read by none of its Terraform" in text
    assert "\nserverless-site/site0 (prod)\n" in text  # the header names the environment too
    assert main([*args, "--json"]) == 0
    items = json.loads(capsys.readouterr().out)
    assert len(items) == 8
    for item in items:
        assert [u["field"] for u in item["unused"]] == ["index_document"]
        report = item["code_evidence"]
        assert report["fields_read"] == ["content_bucket_prefix", "tags"]
        assert report["files_parsed"] == 1 and report["files_failed"][0]["status"] == "parsed after repair"
        assert report["config_roots"][0]["name"] == "local.config"


def test_suggest_eval_with_iac_measures_unused_flags_against_the_terraform(tmp_path, capsys):
    configs, iac = tmp_path / "configs", tmp_path / "iac" / "components" / "serverless-site"
    for i in range(12):
        doc = {"content_bucket_prefix": f"b{i}", "index_document": "index.html", "tags": {"Owner": "x"}}
        if i % 3:
            doc["site_name"] = f"site{i}.example"  # optional: in 8 of 12, read by the Terraform
        path = configs / "iac" / "prod" / "serverless-site" / f"site{i}" / "config.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(doc))
    iac.mkdir(parents=True)
    (iac / "main.tf").write_text(
        'data "aws_ssm_parameter" "config" {\n  name = "/iac/serverless-site/x/config"\n}\n'
        "locals {\n  config = try(nonsensitive(jsondecode(data.aws_ssm_parameter.config.value)), {})\n}\n"
        'resource "aws_s3_bucket" "site" {\n  bucket = local.config.content_bucket_prefix\n'
        "  tags = merge(try(local.config.tags, {}), { Name = try(local.config.site_name, null) })\n}\n"
    )
    args = ["suggest-eval", "--configs", str(configs), "--iac", str(tmp_path / "iac"), "--seeds", "1"]
    assert main([*args, "--json"]) == 0
    unused = json.loads(capsys.readouterr().out)["unused_vs_code"]
    # index_document, set in all 12 and read by none: flagged in every config; nothing read is flagged.
    assert unused["n_unread"] == 12 and unused["n_flagged"] == 12 and unused["n_read_flagged"] == 0
    assert unused["precision"] == unused["recall"] == unused["f1"] == 1.0
