"""Code evidence on Terraform shaped like Karma's real aws-iac: wrapped config roots, other components'
runtimes decoded the same way, child modules receiving the config, `for_each` over config maps,
dynamic blocks, files python-hcl2 rejects; and the unused fields that only the code can see."""

from pathlib import Path

import pytest

from karma_pipelines.defs.suggester import code_metadata
from karma_pipelines.suggester import load_suggester_spec, suggest, train_suggester
from karma_pipelines.suggester.code_evidence import read_code_evidence
from karma_pipelines.suggester.code_report import report_lines, type_report
from karma_pipelines.suggester.corpus import corpus_from_configs
from karma_pipelines.suggester.eval_unused import terraform_unused_metrics

HEADER = """terraform {
  backend "s3" {}
}
data "aws_ssm_parameter" "config" {
  name = "${var.iac_prefix}/${var.component_name}/${var.nickname}/config"
}
locals {
  config = try(nonsensitive(jsondecode(data.aws_ssm_parameter.config.value)), {})
  tags = merge({ Project = try(local.config.project, var.nickname) }, try(local.config.tags, {}))
}
"""

SITE = """locals {
  enable_custom_domain = try(nonsensitive(local.config.enable_custom_domain), false)
  bucket_name          = local.config.content_bucket_prefix
  vpc                  = jsondecode(nonsensitive(data.aws_ssm_parameter.vpc_runtime.value))
  cluster              = try(jsondecode(data.aws_ssm_parameter.cluster_runtime.value), {})
}
data "aws_ssm_parameter" "vpc_runtime" {
  name = "${var.iac_prefix}/vpc/${local.config.vpc_nickname}/runtime"
}
data "aws_ssm_parameter" "cluster_runtime" {
  name = "/iac/ecs-cluster/main/runtime"
}
resource "aws_instance" "web" {
  subnet_id = local.vpc.private_subnet_ids[0]
  vpc_id    = local.cluster.vpc_id
  tags      = local.tags
}
module "functions" {
  source   = "./modules/fn"
  for_each = local.config.functions
  fn       = each.value
  name     = each.key
}
module "settings" {
  source  = "./modules/settings"
  config  = local.config
  network = local.config.network
}
module "cert" {
  source      = "git::https://github.com/usekarma/aws-modules.git//acm-certificate?ref=main"
  domain_name = local.bucket_name
}
resource "aws_security_group" "sg" {
  dynamic "ingress" {
    for_each = try(local.config.ingress, [])
    content {
      from_port   = ingress.value.port
      cidr_blocks = ingress.value.cidrs
    }
  }
}
"""

FN_MODULE = """variable "fn" {}
variable "name" {}
resource "aws_lambda_function" "f" {
  function_name = var.name
  handler       = var.fn.handler
  runtime       = try(var.fn.runtime, "python3.12")
}
"""

SETTINGS_MODULE = """variable "config" {}
variable "network" {}
locals {
  az = var.config.az_count
}
resource "aws_subnet" "a" {
  cidr_block = var.network.cidr
}
"""

BROKEN = """# a block python-hcl2 rejects but can read once its `;` are line breaks
data "aws_ami" "al2023" {
  filter { name = "name"; values = [local.config.ami_pattern] }
}
resource "aws_instance" "broken" {
  user_data = local.config.user_data_script ===
}
locals {
  key_name = try(local.config.key_name, null)
}
"""

WORKER = """locals {
  settings = var.use_file ? yamldecode(file("${path.module}/config.yaml")) : jsondecode(var.config_json)
  policy   = jsondecode(file("${path.module}/policy.json"))
}
resource "aws_sqs_queue" "q" {
  name   = local.settings.queue_name
  policy = local.policy.Statement
}
"""


@pytest.fixture
def iac(tmp_path: Path) -> Path:
    site = tmp_path / "components" / "site"
    for folder, files in {
        site: {"header.tf": HEADER, "main.tf": SITE, "broken.tf": BROKEN},
        site / "modules" / "fn": {"main.tf": FN_MODULE},
        site / "modules" / "settings": {"main.tf": SETTINGS_MODULE},
        tmp_path / "components" / "worker": {"main.tf": WORKER},
        tmp_path / "components" / "queue": {"README.md": "no Terraform yet\n"},
    }.items():
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (folder / name).write_text(text)
    return tmp_path


def test_wrapped_roots_modules_for_each_and_dynamic_blocks(iac):
    evidence = read_code_evidence(iac)
    assert sorted(evidence.types) == ["site", "worker"]  # the child modules are read through `site`
    site = evidence.types["site"]
    assert set(site.fields()) == {
        "project", "tags", "enable_custom_domain", "content_bucket_prefix", "vpc_nickname",
        "functions", "functions.*.handler", "functions.*.runtime",  # module for_each'd over a config map
        "az_count", "network.cidr",  # the whole config and a part of it passed to a module
        "ingress", "ingress.*.port", "ingress.*.cidrs",  # a dynamic block over a config list
        "ami_pattern", "user_data_script", "key_name",  # from broken.tf, its other blocks still read
    }  # fmt: skip
    # The VPC's and the cluster's runtimes are decoded the same way but are not this config.
    assert not site.is_read("private_subnet_ids") and not site.is_read("vpc_id")
    roots = {r.name: r for r in site.roots}
    assert roots["local.config"].is_config and roots["local.config"].source == "data.aws_ssm_parameter.config"
    assert not roots["local.vpc"].is_config and roots["local.vpc"].why == "another component's runtime"
    assert not roots["local.cluster"].is_config
    assert {"var.config", "var.network", "var.fn"} <= set(roots)  # inputs of the child modules
    assert any(m.startswith("components/site/modules/fn as var.fn (functions.*)") for m in site.modules)
    assert evidence.is_required("site", "functions.api.handler")
    assert not evidence.is_required("site", "functions.api.runtime")
    worker = evidence.types["worker"]
    assert set(worker.fields()) == {"queue_name"}  # policy.json is not its config
    assert {r.source for r in worker.roots if r.is_config} == {
        'file("${path.module}/config.yaml")',
        "var.config_json",
    }


def test_a_file_hcl2_rejects_is_reported_and_its_other_blocks_read(iac):
    evidence = read_code_evidence(iac)
    failures = {f.line: f for f in evidence.failures}
    assert set(failures) == {3, 6}
    assert failures[3].block == 'data "aws_ami" "al2023"' and failures[3].recovered
    assert failures[6].block == 'resource "aws_instance" "broken"' and not failures[6].recovered
    assert all(f.file == "components/site/broken.tf" and "Unexpected" in f.message for f in failures.values())
    assert any(e.startswith("components/site/broken.tf:6 in resource") for e in evidence.errors)
    (entry,) = [f for f in evidence.types["site"].files if f["file"].endswith("broken.tf")]
    assert entry["status"] == "partly parsed" and entry["blocks"] == 3
    text = "\n".join(report_lines(evidence, ["site", "worker", "bucket"]))
    assert 'components/site/broken.tf:6 in resource "aws_instance" "broken": UnexpectedToken' in text
    assert "only its plain `local.config.<path>` references read" in text


def test_the_report_per_type(iac):
    report = type_report(read_code_evidence(iac), ["site", "bucket"])
    assert sorted(report) == ["bucket", "queue", "site", "worker"]
    assert report["queue"]["why_no_code_evidence"] == "no .tf files"
    assert report["bucket"]["why_no_code_evidence"] == "no Terraform folder named bucket"
    site = report["site"]
    assert site["folders"] == ["components/site"] and site["files_parsed"] == 4  # 2 modules' files too
    assert [f["file"] for f in site["files_failed"]] == ["components/site/broken.tf"]
    assert [r["name"] for r in site["config_roots"]][:1] == ["local.config"]
    assert {r["name"] for r in site["not_config"]} == {"local.vpc", "local.cluster"}
    assert "functions.*.handler" in site["fields_read"]


def test_unused_from_the_terraform_with_its_reason(iac):
    configs = []
    for i in range(12):
        config = {"content_bucket_prefix": f"b{i}", "index_document": "index.html", "tags": {"Owner": "x"},
                  "functions": {"api": {"handler": "h", "runtime": "r", "description": "d"}}}  # fmt: skip
        if i == 0:
            config["key_name"] = "k"  # rare, but the code reads it: never unused
        configs.append({"component": f"site/s{i}", "environment": "prod", "config": config})
    for i in range(6):
        configs.append(
            {
                "component": f"worker/w{i}",
                "config": {"queue_name": "q", **({"dlq": True} if i % 2 == 0 else {})},
            }
        )
    corpus = corpus_from_configs(configs)
    code = read_code_evidence(iac)
    spec = load_suggester_spec()
    run = train_suggester(corpus, spec, code)
    found = suggest(run, corpus, top=5, code=code, spec=spec)
    by = {item["component"]: item for item in found}
    unused = {u["field"]: u for u in by["site/s0"]["unused"]}
    assert list(unused)[:1] == ["index_document"]  # top-level first
    assert unused["index_document"]["reason"].startswith(
        "set in 12 configs of site, read by none of its Terraform"
    )
    assert unused["index_document"]["evidence"] == "terraform"
    assert "functions.api.description" in unused  # under a map the code reads field by field
    assert "key_name" not in unused and "content_bucket_prefix" not in unused
    assert by["worker/w0"]["unused"][0]["reason"].startswith("set in 3 configs of worker")
    assert by["worker/w1"]["unused"] == []  # its dlq is unset; queue_name is read
    metrics = terraform_unused_metrics(found, corpus, code)
    assert metrics["precision"] == 1.0 and metrics["recall"] == 1.0 and metrics["top_level_recall"] == 1.0
    assert metrics["n_unread"] == 12 * 2 + 3  # index_document, functions.api.description; dlq in 3 workers
    alone = train_suggester(corpus, spec, None)
    without = suggest(alone, corpus, top=5, spec=spec)  # the corpus alone cannot see them
    assert terraform_unused_metrics(without, corpus, code)["top_level_recall"] < 1.0


def test_the_dagster_metadata_names_the_failures(iac):
    corpus = corpus_from_configs([{"component": "site/a", "config": {"index_document": "i"}}])
    metadata = code_metadata(read_code_evidence(iac), corpus)
    assert metadata["code_types_with_config_root"] == 2
    failures = metadata["code_parse_failures"].value
    assert "components/site/broken.tf" in failures and 'resource "aws_instance" "broken"' in failures
    assert "only its plain `local.config.<path>` references read" in failures
    types = metadata["code_evidence_types"].value
    assert "no .tf files" in types and "local.config" in types
    assert code_metadata(None, corpus) == {}


def test_model_flags_the_code_reads_by_name_are_dropped_those_it_passes_on_whole_stay(iac):
    from karma_pipelines.suggester.code_unused import with_code_unused

    config = {"content_bucket_prefix": "b", "index_document": "i", "tags": {"Ownr": "x"}}
    corpus = corpus_from_configs([{"component": "site/a", "config": config}])
    typo = {"field": "tags.Ownr", "score": 0.8, "reason": "looks like a misspelling of `Owner`"}
    model = {0: [{"field": "content_bucket_prefix", "score": 0.9, "reason": "set by only 0 of 3"}, typo]}
    (found,) = with_code_unused(model, corpus, read_code_evidence(iac), None, 5).values()
    assert [s["field"] for s in found] == ["index_document", "tags.Ownr"]  # tags is used whole
    assert found[1]["reason"] == "looks like a misspelling of `Owner`"


def test_a_parse_failure_shows_no_literal_of_the_file(tmp_path):
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "main.tf").write_text(
        "locals {\n  config = jsondecode(var.config_json)\n}\n"
        'resource "x" "y" {\n  password = "hunter2" ===\n}\n'
    )
    evidence = read_code_evidence(tmp_path)
    assert evidence.errors and "hunter2" not in " ".join(evidence.errors)
    assert evidence.failures[0].line == 5 and "column" in evidence.failures[0].message


def test_which_parameter_is_the_components_config(tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "main.tf").write_text(
        'data "aws_ssm_parameter" "settings" {\n  name = "${var.prefix}/app/${var.nickname}/config"\n}\n'
        'data "aws_ssm_parameter" "ami" {\n  name = "/iac/app/${local.config.ami_nickname}/base"\n}\n'
        'data "aws_ssm_parameter" "peer" {\n  name = "/iac/peer/x/runtime"\n}\n'
        "locals {\n  config = coalesce(jsondecode(data.aws_ssm_parameter.settings.value), {})\n"
        "  ami = jsondecode(data.aws_ssm_parameter.ami.value)\n"
        "  peer = sensitive(jsondecode(data.aws_ssm_parameter.peer.value))\n}\n"
        'resource "x" "y" {\n  a = local.ami.image_id\n  b = local.peer.arn\n  c = local.config.size\n}\n'
    )
    code = read_code_evidence(tmp_path).types["app"]
    why = {r.name: (r.is_config, r.why) for r in code.roots}
    assert why["local.config"] == (True, "")  # its `name` ends in /config
    assert why["local.ami"] == (
        False,
        "a parameter that is not the component's config",
    )  # config only inside ${}
    assert why["local.peer"] == (False, "another component's runtime")
    assert set(code.fields()) == {"ami_nickname", "size"}


def test_a_decode_of_the_config_used_in_place(tmp_path):
    (tmp_path / "queue").mkdir()
    (tmp_path / "queue" / "main.tf").write_text(
        'data "aws_ssm_parameter" "config" {\n  name = "/iac/queue/x/config"\n}\n'
        'data "aws_ssm_parameter" "vpc_runtime" {\n  name = "/iac/vpc/x/runtime"\n}\n'
        'resource "aws_sqs_queue" "q" {\n'
        "  name = jsondecode(nonsensitive(data.aws_ssm_parameter.config.value)).queue_name\n"
        "  vpc  = jsondecode(nonsensitive(data.aws_ssm_parameter.vpc_runtime.value)).vpc_id\n}\n"
    )
    code = read_code_evidence(tmp_path).types["queue"]
    assert set(code.fields()) == {"queue_name"}
    assert [(r.name, r.source, r.line) for r in code.roots] == [
        ("jsondecode(...)", "data.aws_ssm_parameter.config", 8)
    ]
