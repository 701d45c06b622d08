"""Code evidence: exact fields read per component type from hand-written Terraform."""

from pathlib import Path

import pytest

from karma_pipelines.suggester.code_evidence import read_code_evidence

HEADER = """
data "aws_ssm_parameter" "config" {
  name = "${var.iac_prefix}/lambda/${var.nickname}/config"
}
locals {
  config = jsondecode(data.aws_ssm_parameter.config.value)
  tags   = merge({ Component = "lambda" }, try(local.config.tags, {}))
}
"""

LAMBDA = """
locals {
  # local.config.in_a_comment is no read
  functions = try(local.config.functions, {})
  with_vpc = {
    for name, fn in local.functions : name => fn
    if try(fn.vpc_nickname, "") != ""
  }
}
data "aws_ssm_parameter" "vpc" {
  for_each = local.with_vpc
  name     = "/iac/vpc/${each.value.vpc_nickname}/runtime"
}
resource "aws_lambda_function" "fn" {
  for_each      = local.functions
  function_name = each.key
  handler       = each.value.handler
  runtime       = each.value.runtime
  memory_size   = try(each.value.memory_size, 128)
  timeout       = lookup(each.value, "timeout", 3)
  environment {
    variables = try(each.value.environment, {})
  }
  tags = local.tags
}
"""

SITE = """
locals {
  config               = jsondecode(data.aws_ssm_parameter.config.value)
  cfg                  = local.config
  enable_custom_domain = try(local.config.enable_custom_domain, false)
  bucket_name          = local.config.content_bucket_prefix
  zone_name            = lookup(local.config, "route53_zone_name", null)
}
resource "aws_cloudfront_distribution" "site" {
  comment = local.cfg.cloudfront_comment
  aliases = local.enable_custom_domain ? local.config.domain_aliases : []
  origin {
    origin_id = "s3-${local.bucket_name}"
    name      = local.config["site_name"]
    logging   = local.config.logging.bucket
  }
  user_data = <<EOT
#!/bin/bash
echo ${local.config.banner}
EOT
}
resource "aws_route53_record" "www" {
  count = local.enable_custom_domain ? 1 : 0
  name  = local.config.record_name
}
"""


@pytest.fixture
def iac(tmp_path: Path) -> Path:
    (tmp_path / "components" / "lambda").mkdir(parents=True)
    (tmp_path / "components" / "lambda" / "header.tf").write_text(HEADER)
    (tmp_path / "components" / "lambda" / "main.tf").write_text(LAMBDA)
    (tmp_path / "components" / "serverless-site").mkdir(parents=True)
    (tmp_path / "components" / "serverless-site" / "main.tf").write_text(SITE)
    (tmp_path / "modules" / "helper").mkdir(parents=True)
    (tmp_path / "modules" / "helper" / "main.tf").write_text(
        'variable "x" {}\noutput "y" { value = var.x }\n'
    )
    return tmp_path


def test_fields_read_per_type_with_and_without_default(iac):
    evidence = read_code_evidence(iac)
    assert evidence.errors == []
    assert sorted(evidence.types) == ["lambda", "serverless-site"]  # the helper module loads no config
    assert evidence.types["lambda"].fields() == {
        "functions": True,
        "functions.*.environment": True,
        "functions.*.handler": False,
        "functions.*.memory_size": True,
        "functions.*.runtime": False,
        "functions.*.timeout": True,
        "functions.*.vpc_nickname": False,
        "tags": True,
    }
    # vpc_nickname is read without a default, but only for the functions filtered to have one.
    assert evidence.types["lambda"].required_paths() == ["functions.*.handler", "functions.*.runtime"]
    assert evidence.types["serverless-site"].fields() == {
        "banner": False,
        "cloudfront_comment": False,
        "content_bucket_prefix": False,
        "domain_aliases": False,
        "enable_custom_domain": True,
        "logging.bucket": False,
        "record_name": False,
        "route53_zone_name": True,
        "site_name": False,
    }
    # Reads in a conditional branch or a `count` block are needed only sometimes.
    assert evidence.types["serverless-site"].required_paths() == [
        "banner", "cloudfront_comment", "content_bucket_prefix", "logging.bucket", "site_name",
    ]  # fmt: skip


def test_matching_config_paths_against_the_reads(iac):
    evidence = read_code_evidence(iac)
    assert evidence.read_kind("lambda", "functions.api.handler") == "exact"
    assert evidence.read_kind("lambda", "functions.api.environment.LOG_LEVEL") == "covered"
    assert evidence.read_kind("lambda", "tags.Owner") == "covered"
    assert evidence.read_kind("lambda", "functions.api.hanlder") is None
    assert evidence.read_kind("lambda", "in_a_comment") is None
    assert evidence.is_required("lambda", "functions.export.runtime")
    assert not evidence.is_required("lambda", "functions.export.timeout")
    assert evidence.is_read("serverless-site", "index_document") is False
    assert evidence.is_read("vpc", "cidr") is None  # no Terraform for that type
    read = next(r for r in evidence.types["serverless-site"].reads if r.path == "banner")
    assert (read.file, read.line) == ("components/serverless-site/main.tf", 19)  # inside the heredoc


def test_whole_config_used_as_a_value_means_everything_is_read(tmp_path):
    folder = tmp_path / "grafana"
    folder.mkdir()
    (folder / "main.tf").write_text(
        "locals {\n  cfg = jsondecode(data.aws_ssm_parameter.config.value)\n}\n"
        'resource "x" "y" {\n  input = jsonencode(local.cfg)\n  n = length(keys(local.cfg))\n}\n'
    )
    evidence = read_code_evidence(tmp_path)
    assert evidence.types["grafana"].reads_everything
    assert evidence.read_kind("grafana", "anything.at.all") == "covered"


def test_a_file_hcl2_cannot_parse_falls_back_to_plain_references(tmp_path):
    folder = tmp_path / "vpc"
    folder.mkdir()
    (folder / "main.tf").write_text(
        "locals {\n  a = local.config.cidr\n  b = try(local.config.az_count, 2)\n  broken = {\n"
    )
    evidence = read_code_evidence(tmp_path)
    assert evidence.errors and evidence.errors[0].startswith("vpc/main.tf")
    assert evidence.types["vpc"].fields() == {"az_count": True, "cidr": False}
