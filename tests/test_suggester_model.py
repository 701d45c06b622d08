"""The config-field suggester: exact features, the split by component, model vs baseline, suggestions."""

import json

import numpy as np
import pytest

from karma_pipelines.suggester import (
    corpus_from_configs,
    fit_suggester,
    load_suggester_spec,
    read_code_evidence,
    suggest,
    train_suggester,
)
from karma_pipelines.suggester.eval_masked import expected_rank_metrics
from karma_pipelines.suggester.evaluation import component_folds, split_by_component
from karma_pipelines.suggester.features import Queries, featurize
from karma_pipelines.suggester.stats import fit_stats
from karma_pipelines.suggester.synthetic import generate_world
from karma_pipelines.training.spec import MODELS_DIR


def _vpc(i, env, extra=()):
    cfg = {"cidr": f"10.{i}.0.0/16", "az_count": 2, "default_sg_name": "sg", "tags": {"Owner": "team"}}
    if i % 2:
        cfg["flow_logs"] = True
        cfg["flow_logs_retention_days"] = 7
    for name in extra:
        cfg[name] = "x"
    return {"component": f"vpc/svc{i}-{env}", "environment": env, "config": cfg}


def _lambda(i, env, functions):
    fns = {n: {"runtime": "python3.12", "handler": "main.h", "artifact": "a.zip"} for n in functions}
    return {"component": f"lambda/fn{i}-{env}", "environment": env, "config": {"functions": fns}}


@pytest.fixture(scope="module")
def small():
    items = [_vpc(i, env) for i in range(4) for env in ("dev", "prod")]
    items += [
        _lambda(0, "dev", ["api", "cron"]),
        _lambda(0, "prod", ["api", "cron"]),
        _lambda(1, "dev", ["api"]),
    ]
    return corpus_from_configs(items)


def test_features_match_a_brute_force_count(small):
    stats = fit_stats(small, min_support=2, min_rule_support=2)
    names = stats.vocab
    rows = {c: i for i, c in enumerate(small.configs["component"])}
    fields = [set(f) for f in small.fields]
    types = small.configs["component_type"].tolist()
    cases = [
        (rows["vpc/svc0-dev"], "flow_logs", False),  # absent: other configs vote
        (rows["vpc/svc1-dev"], "flow_logs", True),  # present: scored from the rest, left out of counts
        (rows["vpc/svc1-dev"], "cidr", True),
        (rows["lambda/fn1-dev"], "functions.api.artifact", True),
    ]
    q = Queries(
        np.array([c[0] for c in cases]), names.ids([c[1] for c in cases]), np.array([c[2] for c in cases])
    )
    got = featurize(stats, stats.encoded, q, neighbours=2)
    for i, (row, field, _) in enumerate(cases):
        others = [j for j in range(len(fields)) if j != row and types[j] == types[row]]
        context = fields[row] - {field}
        expected_rate = np.mean([field in fields[j] for j in others])
        assert got.loc[i, "type_rate"] == pytest.approx(expected_rate)
        confidences = []
        for s in context:
            having = [j for j in others if s in fields[j]]
            if len(having) >= 2:
                confidences.append(np.mean([field in fields[j] for j in having]))
        assert got.loc[i, "assoc_max"] == pytest.approx(max(confidences))
        twins = [j for j in others if small.configs["group"].iat[j] == small.configs["group"].iat[row]]
        if twins:
            assert got.loc[i, "twin_rate"] == pytest.approx(np.mean([field in fields[j] for j in twins]))
        sims = sorted(
            ((len(context & fields[j]) / len(context | fields[j]), j) for j in others), key=lambda t: -t[0]
        )[:2]
        knn = sum(s * (field in fields[j]) for s, j in sims) / sum(s for s, _ in sims)
        assert got.loc[i, "knn_rate"] == pytest.approx(knn, abs=1e-6)
    # functions.api.artifact: the other config's two functions both set `artifact`.
    assert got.loc[3, "is_map_child"] == 1
    assert got.loc[3, "pattern_rate"] == pytest.approx(1.0)
    assert got.loc[3, "instance_in_context"] == 1


def test_split_never_puts_one_component_on_both_sides():
    items = [_vpc(i, env) for i in range(10) for env in ("dev", "prod")]
    items += [{**_vpc(i, "staging"), "component": f"vpc/svc{i}-dev"} for i in range(5)]  # same key, 2 envs
    corpus = corpus_from_configs(items)
    assert corpus.configs["key"].str.contains("@").sum() == 10
    comps = corpus.configs["component"].to_numpy()
    train, test = split_by_component(corpus, 0.3, seed=1)
    assert not set(comps[train]) & set(comps[test])
    assert len(train) + len(test) == len(corpus)
    seen = []
    for train, test in component_folds(corpus, 3, seed=2):
        assert not set(comps[train]) & set(comps[test])
        seen += list(comps[test])
    assert sorted(seen) == sorted(comps)


@pytest.fixture(scope="module")
def world():
    return generate_world(450, seed=3)


@pytest.fixture(scope="module")
def run(world):
    return train_suggester(world.corpus(), load_suggester_spec())


def test_model_beats_the_baseline_on_held_out_components(run, world):
    assert not set(run.train_components) & set(run.test_components)
    ranks = run.tables["masked_field_ranks"]
    tested = {k.split("#")[0] for k in ranks["key"]}
    corpus = world.corpus()
    keys_of_test = set(corpus.configs.loc[corpus.configs["component"].isin(run.test_components), "key"])
    assert tested <= keys_of_test
    model, base = run.metrics["masked"], run.baseline_metrics["masked"]
    assert model["optional_n"] > 100
    assert model["optional_mrr"] >= base["optional_mrr"] + 0.05
    assert model["optional_hit_at_5"] >= base["optional_hit_at_5"]
    assert model["optional_hit_at_5"] >= 0.8
    assert run.metrics["unused"]["f1"] >= 0.85
    # The gate metrics carry what the promotion gate compares.
    gate = run.gate_metrics
    assert {"optional_hit_at_5", "pr_auc"} <= set(gate)
    assert run.score_booster(run.booster)["optional_hit_at_5"] == pytest.approx(gate["optional_hit_at_5"])


def test_suggestions_find_a_planted_missing_and_unused_field(tmp_path):
    items = [_vpc(i, env) for i in range(12) for env in ("dev", "staging", "prod")]
    items += [
        {
            "component": f"s3-bucket/b{i}-dev",
            "environment": "dev",
            "config": {"bucket_name": "b", "versioning": True},
        }
        for i in range(12)
    ]
    broken = _vpc(40, "dev", extra=("bucket_name",))
    del broken["config"]["az_count"]
    broken["config"]["ciddr"] = broken["config"].pop("cidr")
    broken["config"]["cidr"] = "10.40.0.0/16"
    broken["config"]["db_password"] = "hunter2-very-secret"
    items.append(broken)
    corpus = corpus_from_configs(items)
    spec = load_suggester_spec()
    fitted = fit_suggester(corpus, spec)
    out = suggest(fitted, corpus, component="vpc/svc40-dev", top=5)
    assert len(out) == 1 and out[0]["component"] == "vpc/svc40-dev"
    missing = [m["field"] for m in out[0]["missing"]]
    unused = {u["field"]: u["reason"] for u in out[0]["unused"]}
    assert missing[0] == "az_count"
    assert {"ciddr", "bucket_name"} <= set(unused)
    assert "misspelling of `cidr`" in unused["ciddr"]
    assert "s3-bucket" in unused["bucket_name"]
    assert "hunter2" not in json.dumps(out)  # names only, never values
    # With code evidence: a field read without a default that no config sets is missing everywhere.
    (tmp_path / "vpc").mkdir()
    (tmp_path / "vpc" / "main.tf").write_text(
        "locals {\n  config = jsondecode(data.aws_ssm_parameter.config.value)\n}\n"
        'resource "x" "vpc" {\n  cidr = local.config.cidr\n  azs = local.config.az_count\n'
        "  sg = try(local.config.default_sg_name, null)\n  logs = try(local.config.flow_logs, false)\n"
        "  days = try(local.config.flow_logs_retention_days, 7)\n  region = local.config.region\n"
        "  tags = try(local.config.tags, {})\n}\n"
    )
    code = read_code_evidence(tmp_path)
    with_code = suggest(fitted, corpus, component="vpc/svc3-prod", code=code)[0]
    found = {m["field"]: m["reason"] for m in with_code["missing"]}
    assert "region" in found and "without a default" in found["region"]
    flagged = {u["field"] for u in suggest(fitted, corpus, component="vpc/svc40-dev", code=code)[0]["unused"]}
    assert {"ciddr", "bucket_name", "db_password"} <= flagged  # db_password: read by no Terraform


def test_expected_rank_with_ties():
    out = expected_rank_metrics(np.array([1, 0, 7]), np.array([2, 0, 0]), np.array([True, True, False]))
    assert out["hit_at_1"].tolist() == [0.0, 1.0, 0.0]
    assert out["hit_at_5"].tolist() == [1.0, 1.0, 0.0]
    assert out["rr"][0] == pytest.approx((1 / 2 + 1 / 3 + 1 / 4) / 3)
    assert out["rr"][1] == pytest.approx(1.0)


def test_spec_loads_and_rejects_a_bad_threshold(tmp_path):
    spec = load_suggester_spec()
    assert spec.target == "belongs" and "is_set" in spec.features and "code_read" in spec.features
    assert spec.promotion.primary_metric == "optional_hit_at_5"
    assert all(isinstance(v, str) for v in spec.log_params().values())
    text = (MODELS_DIR / "config_field_suggester.yaml").read_text()
    path = tmp_path / "spec.yaml"
    path.write_text(text.replace("unused_threshold: auto", "unused_threshold: 1.5"))
    with pytest.raises(ValueError, match="unused_threshold"):
        load_suggester_spec(path)
    path.write_text(text.replace("registered_model_name:", "registered_name:"))
    with pytest.raises(ValueError, match="registered_model_name"):
        load_suggester_spec(path)
