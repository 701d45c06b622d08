"""Budgets on what one input file or record may hold, in every reader: YAML aliases (an alias bomb
fails fast), documents per file (a config file is one document, or a few), leaf fields per config.
Over a budget, the file or record is quarantined (Git, event log) or skipped and reported (`suggest
--configs`) with a reason naming it; nothing else is lost, nothing crashes."""

from __future__ import annotations

import json

import pytest

from karma_pipelines.apps.cli import main
from karma_pipelines.bench.bad_input import alias_bomb, many_documents, wide_config
from karma_pipelines.contracts.config_fields import MAX_FIELDS, count_fields, flatten
from karma_pipelines.sources.git import extract_git_history
from karma_pipelines.sources.git.parse import MAX_DOCUMENTS, MAX_NODES, parse_config
from karma_pipelines.training.spec import ModelSpec, read_spec
from tests.test_bad_event_records import DAY, deploy, run
from tests.test_git_source import GitRepo, cfg

# (file name, text, the reason's detail): every budget, as the one parser refuses it
OVER_BUDGET = {
    "alias_bomb": ("bomb.yaml", alias_bomb(), f"more than {MAX_NODES} values (runaway YAML aliases?)"),
    "documents": ("docs.yaml", many_documents(), f"more than {MAX_DOCUMENTS} YAML documents"),
    "fields": (
        "wide.json",
        json.dumps(wide_config(MAX_FIELDS + 1)),
        f"the config has {MAX_FIELDS + 1:,} fields, more than the {MAX_FIELDS:,} allowed",
    ),
}


def test_count_fields_is_flatten_without_the_paths():
    config = {"a": {"b": 1, "c": {}, "d": [1, {"x": 1}]}, "e": None, "f": {"g": {"h": "x"}}}
    assert count_fields(config) == len(flatten(config)) == 5
    assert count_fields(wide_config(MAX_FIELDS)) == MAX_FIELDS


@pytest.mark.parametrize("case", sorted(OVER_BUDGET))
def test_the_one_parser_refuses_each_budget_naming_the_file(case):
    name, text, detail = OVER_BUDGET[case]
    parsed = parse_config(f"iac/dev/vpc/x/{name}", text.encode())
    assert not parsed.ok and parsed.doc is None
    assert parsed.reason.startswith(("parse_error(iac/dev/vpc/x/", "too_many_fields(iac/dev/vpc/x/"))
    assert detail in parsed.reason


def test_within_the_budgets_is_accepted():
    assert parse_config("a.yaml", many_documents(MAX_DOCUMENTS).encode()).ok  # doc0 … doc99
    assert parse_config("a.json", json.dumps(wide_config(MAX_FIELDS)).encode()).ok


def test_git_quarantines_each_file_over_a_budget_and_keeps_the_others(tmp_path):
    repo = GitRepo(tmp_path / "repo")
    files = {f"charts/{case}/values.yaml": text for case, (_, text, _) in OVER_BUDGET.items()}
    files["charts/ok/values.yaml"] = "replicas: 2\n"
    c1 = repo.commit(0, "charts", files)
    result = extract_git_history(repo.path, layout="charts/{nickname}/values.yaml")
    assert result.deploy_records["deploy_id"].tolist() == [f"{c1}:charts/ok"]
    reasons = dict(zip(result.quarantined["record_id"], result.quarantined["reasons"], strict=True))
    assert set(reasons) == {f"{c1}:charts/{case}/values.yaml" for case in OVER_BUDGET}
    for case, (_, _, detail) in OVER_BUDGET.items():
        assert f"(charts/{case}/values.yaml): " in reasons[f"{c1}:charts/{case}/values.yaml"]
        assert detail in reasons[f"{c1}:charts/{case}/values.yaml"]


def test_suggest_configs_skips_and_reports_each_file_over_a_budget(tmp_path, capsys):
    configs = tmp_path / "configs"
    for i in range(8):
        path = configs / "iac" / "prod" / "vpc" / f"net{i}" / "values.yaml"
        path.parent.mkdir(parents=True)
        path.write_text(cfg({"cidr": f"10.{i}.0.0/16", "az_count": 2, "tags": {"Owner": "x"}}))
    for case, (_, text, _) in OVER_BUDGET.items():
        path = configs / "iac" / "prod" / "vpc" / case / "values.yaml"
        path.parent.mkdir(parents=True)
        path.write_text(text)
    layout = "iac/{env}/{component_type}/{nickname}/values.yaml"
    assert main(["suggest", "--configs", str(configs), "--layout", layout, "--json"]) == 0
    out, err = capsys.readouterr()
    assert {item["component"] for item in json.loads(out)} == {f"vpc/net{i}" for i in range(8)}
    for case, (_, _, detail) in OVER_BUDGET.items():
        line = next(x for x in err.splitlines() if f"skipped iac/prod/vpc/{case}/values.yaml: " in x)
        assert line.startswith("karma-pipelines suggest: warning: ") and detail in line


def test_a_spec_file_goes_through_the_same_loader(tmp_path):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(alias_bomb())
    with pytest.raises(ValueError, match=rf"{bomb}: more than {MAX_NODES} values"):
        read_spec(ModelSpec, bomb)


def test_the_event_log_quarantines_a_config_over_the_field_cap(tmp_path):
    lines = [
        json.dumps(
            deploy("k-3", "dep-000002", ts="2026-05-01T12:00:00Z", config=wide_config(MAX_FIELDS + 1))
        ),
        json.dumps(deploy("k-4", "dep-000003", ts="2026-05-01T13:00:00Z", config=wide_config(MAX_FIELDS))),
    ]
    tables, reasons = run(tmp_path, lines)
    assert set(reasons) == {f"{DAY}:3"}
    assert reasons[f"{DAY}:3"] == (
        f"expect_column_values_to_be_in_set(attrs_kind): attrs.config has {MAX_FIELDS + 1:,} fields, "
        f"more than the {MAX_FIELDS:,} allowed"
    )
    assert set(tables.deploy_records["deploy_id"]) == {"dep-000001", "dep-000003"}


@pytest.mark.parametrize(
    ("text", "why"), [("{", "Expecting property name"), ("[" * 100_000, "nested too deeply")]
)
def test_a_world_json_that_is_not_json_is_an_error_naming_it(tmp_path, text, why):
    from karma_pipelines.sources.event_world import EventLogSource
    from tests.test_bad_event_records import GOOD, write_world

    world = write_world(tmp_path / "world", GOOD)
    (world / "world.json").write_text(text)
    with pytest.raises(ValueError, match=rf"^{world / 'world.json'}: {why}"):
        EventLogSource(world).describe()
