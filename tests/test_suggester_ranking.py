"""The suggester's ranking on corpora shaped like real Helm values (nested, dotted paths): the ranker
chosen by cross-validation is never below the association-rule baseline where the rules are strong,
a missing subtree is suggested once at its root, and `suggest-eval` runs the masked-field protocol."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from karma_pipelines.apps.cli import main
from karma_pipelines.suggester import corpus_from_folder, fit_suggester, load_suggester_spec, suggest
from karma_pipelines.suggester.candidates import missing_roots
from karma_pipelines.suggester.corpus import corpus_from_configs, corpus_from_tree
from karma_pipelines.suggester.evaluation import masked_protocol
from karma_pipelines.suggester.labelled_queries import fit_corpus_stats
from karma_pipelines.suggester.stats import encode

LAYOUT = "charts/{nickname}/values.yaml"


def helm_values(i: int, rng: np.random.Generator) -> dict:
    """A chart's values: a common core, optional blocks whose leaves always come together (strong
    rules: `metrics.serviceMonitor.enabled` -> `.interval`), and chart-specific noise."""
    values: dict = {
        "image": {"repository": f"org/app{i}", "tag": "1.0", "pullPolicy": "IfNotPresent"},
        "replicaCount": 1,
        "service": {"type": "ClusterIP", "port": 80},
        "resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "100m"}},
    }
    if rng.random() < 0.6:
        values["metrics"] = {"enabled": False, "port": 9090}
        if rng.random() < 0.7:
            values["metrics"]["serviceMonitor"] = {"enabled": False, "interval": "30s", "labels": {}}
            values["metrics"]["serviceMonitor"]["scrapeTimeout"] = "10s"
    if rng.random() < 0.5:
        values["ingress"] = {"enabled": False, "className": "", "hosts": [], "tls": []}
        values["ingress"]["annotations"] = {}
    if rng.random() < 0.5:
        values["podSecurityContext"] = {"fsGroup": 1001, "runAsUser": 1001}
        values["containerSecurityContext"] = {"runAsNonRoot": True, "readOnlyRootFilesystem": True}
    if rng.random() < 0.4:
        values["persistence"] = {"enabled": True, "size": "8Gi", "accessModes": ["ReadWriteOnce"]}
        values["persistence"]["storageClass"] = ""
    if rng.random() < 0.3:
        values["serviceAccount"] = {"create": True, "name": "", "annotations": {}}
    values[f"app{i}"] = {"setting": i, f"own{i % 3}": True}
    return values


def helm_corpus(n: int = 40, seed: int = 3):
    rng = np.random.default_rng(seed)
    items = [{"component": f"charts/app{i}", "config": helm_values(i, rng)} for i in range(n)]
    return corpus_from_configs(items)


def write_charts(root: Path, n: int = 40, seed: int = 3) -> Path:
    rng = np.random.default_rng(seed)
    for i in range(n):
        folder = root / "charts" / f"app{i}"
        folder.mkdir(parents=True)
        (folder / "values.yaml").write_text(yaml.safe_dump(helm_values(i, rng)))
        (folder / "Chart.yaml").write_text(f"name: app{i}\n")
    return root


@pytest.fixture(scope="module")
def spec():
    return load_suggester_spec()


def test_chosen_ranker_is_never_below_the_baseline_where_rules_are_strong(spec):
    result = masked_protocol(helm_corpus(), spec, seeds=2)
    assert result["cases"] >= 10
    assert result["cases"] == sum(s["cases"] for s in result["per_seed"])
    for seed in result["per_seed"]:
        assert seed["ranker"]["name"] in {"model", "baseline", "blend"}
        assert set(seed["ranker"]["cv"]) >= {"baseline", "model"}  # it was chosen on CV figures
        assert seed["ranker"]["cv_cases"] > 0
    assert result["model"]["hit_at_5"] >= result["baseline"]["hit_at_5"]
    assert result["model"]["mrr"] >= result["baseline"]["mrr"] - 0.02


def test_the_ranker_picks_the_baseline_when_nothing_beats_it(spec):
    """With a gain no weight can reach, the choice falls back to the baseline, and says why."""
    strict = spec.model_copy(update={"ranker_min_gain": 10.0})
    fitted = fit_suggester(helm_corpus(), strict)
    assert fitted.ranker.name == "baseline" and fitted.ranker.weight == 0.0
    assert "nothing beat it" in fitted.ranker.reason
    model = fit_suggester(helm_corpus(), spec.model_copy(update={"ranker_weights": [1.0]}))
    assert model.ranker.name == "model"


def test_missing_subtree_is_suggested_once_at_its_root(spec):
    corpus = helm_corpus()
    without = helm_values(99, np.random.default_rng(0))
    without.pop("metrics", None)
    without.pop("ingress", None)
    partial = helm_values(98, np.random.default_rng(0))
    partial["metrics"] = {"enabled": True, "port": 9090}  # no serviceMonitor block
    items = [
        {"component": "charts/bare", "config": without},
        {"component": "charts/partial", "config": partial},
    ]
    full = corpus_from_configs(
        [{"component": c, "config": {}} for c in ()]
        + items
        + [
            {"component": f"charts/app{i}", "config": helm_values(i, np.random.default_rng(i))}
            for i in range(40)
        ]
    )
    assert len(full) == len(corpus) + 2
    fitted = fit_suggester(full, spec)
    bare = suggest(fitted, full, component="charts/bare", top=20, missing_threshold=0.0)[0]["missing"]
    fields = [s["field"] for s in bare]
    assert "metrics" in fields and "ingress" in fields
    assert not [f for f in fields if f.startswith(("metrics.", "ingress."))]  # never its leaves
    metrics = next(s for s in bare if s["field"] == "metrics")
    assert metrics["reason"].startswith("missing subtree: ") and int(metrics["reason"].split()[2]) >= 2
    part = suggest(fitted, full, component="charts/partial", top=20, missing_threshold=0.0)[0]["missing"]
    names = [s["field"] for s in part]
    assert "metrics.serviceMonitor" in names
    assert not [f for f in names if f.startswith("metrics.serviceMonitor.")]


def test_missing_roots_stop_at_the_first_absent_prefix(spec):
    corpus = corpus_from_configs(
        [
            {"component": "charts/a", "config": {"metrics": {"enabled": True}, "image": {"tag": "1"}}},
            {"component": "charts/b", "config": {"image": {"tag": "1"}}},
        ]
    )
    stats = fit_corpus_stats(corpus, spec)
    enc = encode(corpus, stats.vocab)
    paths = [
        "metrics.serviceMonitor.interval",
        "metrics.serviceMonitor.interval",
        "image.pullPolicy",
        "replicas",
    ]
    rows = np.array([0, 1, 1, 1])
    roots = missing_roots(stats, enc, rows, stats.vocab.ids(paths))
    assert list(stats.vocab.name_array(roots)) == [
        "metrics.serviceMonitor",
        "metrics",
        "image.pullPolicy",
        "replicas",
    ]


def _git(repo: Path, *args: str) -> None:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@x", "HOME": str(repo), "PATH": "/usr/bin:/bin"}  # fmt: skip
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, env=env)


def test_tree_corpus_is_the_folder_corpus(tmp_path):
    repo = write_charts(tmp_path / "repo", n=8)
    (repo / "charts" / "app3" / "values.yaml").write_text("{not: [yaml")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "charts")
    tree, folder = corpus_from_tree(repo, LAYOUT), corpus_from_folder(repo, LAYOUT)
    assert tree.fields == folder.fields and list(tree.configs["key"]) == list(folder.configs["key"])
    assert tree.skipped == folder.skipped == ["charts/app3/values.yaml"]


def test_suggest_eval_cli_json_and_bad_input(tmp_path, capsys):
    root = write_charts(tmp_path / "charts-repo", n=30)
    assert main(["suggest-eval", "--configs", str(root), "--layout", LAYOUT, "--seeds", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"configs", "cases", "seeds", "rankers", "model", "baseline", "lightgbm", "per_seed"} <= set(out)
    assert out["configs"] == 30 and out["seeds"] == 2 and len(out["per_seed"]) == 2
    for seed in out["per_seed"]:  # one hidden field in each held-out config (20% of the components)
        assert seed["test_configs"] == 6 and 0 < seed["cases"] <= seed["test_configs"]
    assert out["cases"] == sum(s["cases"] for s in out["per_seed"])
    for who in ("model", "baseline"):
        assert set(out[who]) == {"hit_at_1", "hit_at_5", "mrr"}
        assert 0.0 <= out[who]["hit_at_1"] <= out[who]["hit_at_5"] <= 1.0
    assert main(["suggest-eval", "--configs", str(root), "--layout", "x/{nickname}.json"]) == 2
    assert "matches no config" in capsys.readouterr().err
    assert main(["suggest-eval", "--repo", str(root), "--layout", LAYOUT]) == 2
    assert "not a Git repository" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["suggest-eval", "--configs", str(tmp_path / "nowhere")])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["suggest-eval", "--configs", str(root), "--seeds", "0"])
    assert exc.value.code == 2
    few = write_charts(tmp_path / "few", n=3)
    assert main(["suggest-eval", "--configs", str(few), "--layout", LAYOUT]) == 2
    assert "no optional field to hide" in capsys.readouterr().err


def test_suggest_json_says_which_ranker(tmp_path, capsys):
    root = write_charts(tmp_path / "charts-repo", n=24)
    args = ["suggest", "--configs", str(root), "--layout", LAYOUT, "--component", "charts/app1", "--json"]
    assert main(args) == 0
    item = json.loads(capsys.readouterr().out)
    assert item["component"] == "charts/app1" and {"missing", "unused"} <= set(item)
    assert item["ranker"]["name"] in {"model", "baseline", "blend"}
    assert item["ranker"]["reason"] and "baseline" in item["ranker"]["cv"]
    assert all(set(s) == {"field", "score", "reason"} for s in item["missing"] + item["unused"])
    assert main(["suggest", "--configs", str(root), "--layout", LAYOUT]) == 0
    assert "missing fields ranked by:" in capsys.readouterr().out
