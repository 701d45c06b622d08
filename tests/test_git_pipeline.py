"""A Git repository as the source: the same Dagster graph, incremental, a sensor, and the backtest CLI."""

import json
import subprocess
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from karma_pipelines.apps.cli import main
from karma_pipelines.bench.scale import floor
from karma_pipelines.definitions import build_definitions
from karma_pipelines.defs.automation import karma_source_sensor
from karma_pipelines.defs.resources import KarmaSourceResource, MlflowResource
from karma_pipelines.defs.run import execute_all
from karma_pipelines.pipeline.scoring import load_scorer
from karma_pipelines.pipeline.tables import load_tables
from karma_pipelines.sources.git.source import GitSource
from karma_pipelines.sources.git.synthetic_repo import make_repo
from karma_pipelines.training.spec import load_spec


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    path = tmp_path_factory.mktemp("git") / "configs"
    make_repo(path, commits=2500, components=50, seed=3)
    return path


def _commit(repo, relpath: str, text: str, message: str, date: str = "2026-06-01T10:00:00Z") -> None:
    env = {
        "GIT_AUTHOR_DATE": date,
        "GIT_COMMITTER_DATE": date,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@x",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@x",
        "PATH": "/usr/bin:/bin",
    }
    (repo / relpath).parent.mkdir(parents=True, exist_ok=True)
    (repo / relpath).write_text(text)
    subprocess.run(["git", "-C", str(repo), "add", relpath], check=True, env=env)
    subprocess.run(["git", "-C", str(repo), "commit", "-q", "-m", message], check=True, env=env)


def test_backtest_json_on_a_repository(repo, tmp_path, capsys):
    out, rows = tmp_path / "pred.csv", tmp_path / "train.parquet"
    code = main(
        ["backtest", "--repo", str(repo), "--json", "--predictions", str(out), "--home", str(tmp_path),
         "--training-rows", str(rows)]
    )  # fmt: skip
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["counts"]) == {"commits", "deploys", "labelled", "rolled_back"}
    assert result["counts"]["commits"] == 2500 and result["counts"]["rolled_back"] > 0
    assert set(result["model"]) >= {
        "roc_auc",
        "pr_auc",
        "brier",
        "capture_at_5",
        "capture_at_10",
        "capture_at_50",
    }
    # The per-commit view (what a CI gate sees) has the same keys as the per-deploy one, and every
    # baseline is judged in both views, with bootstrap intervals around capture@10% and PR-AUC.
    assert set(result["commit_level"]) == set(result["model"])
    baselines = {"random", "parrot", "component_rate", "recent_reverts", "logistic"}
    assert set(result["baselines"]) == set(result["commit_level_baselines"]) == baselines
    assert 0 < result["test_commits"] <= result["test_deploys"]
    for view in ("deploy", "commit"):
        assert set(result["intervals"][view]) == {"model", *baselines}
        low, high = result["intervals"][view]["model"]["capture_at_10"]
        assert low <= high
    low, high = result["intervals"]["commit"]["model"]["capture_at_10"]
    assert low <= result["commit_level"]["capture_at_10"] <= high
    predictions = pd.read_csv(out)
    assert list(predictions.columns) == ["deploy_id", "commit", "component", "deployed_at", "label", "score"]
    assert len(predictions) > 0 and predictions["commit"].str.fullmatch(r"[0-9a-f]{40}").all()
    # The training rows: the spec's features, the label and the time, all before the gap before the split.
    spec = load_spec("rollback_forecaster")
    train = pd.read_parquet(rows)
    assert list(train.columns) == [*spec.features, spec.target, "deployed_at"]
    gap = pd.Timedelta(days=result["horizon_days"])
    assert len(train) > 0 and (train["deployed_at"] < pd.Timestamp(result["split_at"]) - gap).all()
    assert set(train[spec.target].astype(int)) == {0, 1}
    # The scale bench's floor trains on them alone: the fit part of the rows, early stopping on the tail.
    alone = floor(rows)
    assert 0 < alone["floor_rows"] < len(train) and alone["floor_rounds"] >= 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--repo", "/nonexistent/repo"], "not a Git repository"),
        (["--repo", "{repo}", "--layout", "nothing/{nickname}.toml"], "matches no"),
        (["--repo", "{repo}", "--split-date", "1999-01-01"], "without a rollback"),
    ],
)
def test_backtest_errors_are_clear_and_non_zero(repo, tmp_path, capsys, args, message):
    args = [a.replace("{repo}", str(repo)) for a in args]
    assert main(["backtest", *args, "--json", "--home", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


def test_incremental_reads_only_new_commits(tmp_path):
    path = tmp_path / "repo"
    make_repo(path, commits=400, components=20, seed=4)
    state = tmp_path / "state"
    horizon = pd.Timedelta(days=7)
    first = load_tables(GitSource(path, state_dir=state), horizon)
    again = load_tables(GitSource(path, state_dir=state), horizon)
    assert first.new_commits == 400 and again.new_commits == 0
    pd.testing.assert_frame_equal(first.deploy_records, again.deploy_records)
    _commit(path, "iac/dev/vpc/late-dev/config.json", '{"cidr": "10.9.0.0/16"}', "Add vpc/late-dev")
    third = load_tables(GitSource(path, state_dir=state), horizon)
    assert third.new_commits == 1 and third.commits == 401
    assert len(third.deploy_records) == len(first.deploy_records) + 1


def test_dagster_graph_runs_on_a_git_source_and_the_sensor_sees_new_commits(repo, tmp_path, capsys):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    repo = clone
    branch = subprocess.run(
        ["git", "-C", str(repo), "symbolic-ref", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    # The pipeline follows a named branch (`make run REF=<branch>`); `score` must still find its state.
    source = KarmaSourceResource(
        kind="git", path=str(repo), ref=branch, state_dir=str(tmp_path / "git_state")
    )
    defs = build_definitions(source=source, mlflow_store=MlflowResource(home=str(tmp_path)))
    with dg.instance_for_test() as instance:
        result = execute_all(defs, instance, source)
        head = _head(repo)
        assert instance.get_dynamic_partitions("karma_source_batches") == [head]
        assert result.success
        deploys = result.output_for_node("validated_source_tables", "deploy_records")
        assert deploys["source"].eq("git").all() and deploys["deploy_id"].str.contains(":").all()
        assert result.output_for_node("rollback_forecaster")["version"] == "1"

        sensor = dict(instance=instance, resources={"karma_source": source})
        with dg.build_sensor_context(cursor=None, **sensor) as context:
            first = karma_source_sensor(context)  # first look: the head, already a partition
            assert first.run_requests[0].tags["dagster/asset_partition_range_end"] == head
            assert not first.dynamic_partitions_requests
            context.update_cursor(first.cursor)
            assert isinstance(karma_source_sensor(context), dg.SkipReason)

        # A new commit, not deployed yet: scored by the champion, read incrementally, gated by a threshold.
        _commit(
            repo,
            "iac/prod/vpc/edge-prod/config.json",
            '{"cidr": "10.7.0.0/16", "az_count": 3}',
            "Add edge vpc",
        )
        kept = load_scorer(repo, tmp_path).source.kept_extraction()
        assert kept is not None and kept.state.tip == head
        assert (
            main(["score", "--repo", str(repo), "--home", str(tmp_path), "--json", "--fail-above", "0"]) == 3
        )
        scored = json.loads(capsys.readouterr().out)
        assert scored["commit"] == _head(repo) != head
        with dg.build_sensor_context(cursor=first.cursor, **sensor) as context:
            moved = karma_source_sensor(context)  # the ref moved: one new batch, one run over it
            assert moved.dynamic_partitions_requests[0].partition_keys == [_head(repo)]
            assert moved.run_requests[0].tags["dagster/asset_partition_range_start"] == _head(repo)
    assert [d["component"] for d in scored["deploys"]] == ["vpc/edge-prod"]
    assert 0 < scored["max_score"] < 1 and scored["blocked"] is True
    assert scored["deploys"][0]["reasons"]
    capsys.readouterr()
    assert main(["score", "--repo", str(repo), "--home", str(tmp_path), "--fail-above", "1"]) == 0
    human = capsys.readouterr().out
    assert f"commit {_head(repo)[:12]}: 1 deploy(s)" in human
    assert "% risk (base rate " in human and "vpc/edge-prod" in human
    assert " 0 times" not in human and "0 earlier" not in human  # a zero count is no reason for risk

    # Uncommitted changes: named as such on top of HEAD, never as the made-up stash commit.
    config = repo / "iac/prod/vpc/edge-prod/config.json"
    config.write_text('{"cidr": "10.8.0.0/16", "az_count": 2}')
    assert main(["score", "--repo", str(repo), "--home", str(tmp_path), "--worktree"]) == 0
    worktree = capsys.readouterr().out
    assert worktree.startswith(f"uncommitted changes on top of {_head(repo)[:12]}: 1 deploy(s)")
    assert main(["score", "--repo", str(repo), "--home", str(tmp_path), "--worktree", "--json"]) == 0
    as_json = json.loads(capsys.readouterr().out)
    assert as_json["commit"] == _head(repo) and as_json["uncommitted"] is True
    # `score --whatif`: each deploy's changed fields, blast radius and promotion path too.
    assert (
        main(["score", "--repo", str(repo), "--home", str(tmp_path), "--worktree", "--json", "--whatif"]) == 0
    )
    impact = json.loads(capsys.readouterr().out)["deploys"][0]["whatif"]
    assert impact["changed_fields"] == ["az_count", "cidr"] and impact["blast_radius"] == []
    # A config that does not parse in the scored commit is an error naming the file.
    config.write_text('{"cidr": "10.8.0.0/16", "az_count": ')
    assert main(["score", "--repo", str(repo), "--home", str(tmp_path), "--worktree"]) == 2
    assert "iac/prod/vpc/edge-prod/config.json" in capsys.readouterr().err


def test_scoring_features_from_the_relevant_history_equal_the_full_build(repo):
    from karma_pipelines.features import build_rollback_features
    from karma_pipelines.features.for_deploys import features_for
    from karma_pipelines.sources.git import extract_git_history

    history = extract_git_history(repo)
    deploys, snaps = history.deploy_records, history.config_snapshots
    full = build_rollback_features(deploys, snaps).set_index("deploy_id")
    wanted = set(deploys["deploy_id"].iloc[[-1, -7, -40, 900, 1500]])
    part = features_for(deploys, snaps, wanted).set_index("deploy_id")
    assert set(part.index) == wanted
    pd.testing.assert_frame_equal(part, full.loc[part.index, part.columns], check_dtype=False)


def _head(repo: Path) -> str:
    out = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True)
    return out.stdout.strip()


def test_a_cut_git_state_is_read_again_not_fatal(tmp_path):
    path = tmp_path / "repo"
    make_repo(path, commits=120, components=8, seed=9)
    state = tmp_path / "state"
    first = load_tables(GitSource(path, state_dir=state), pd.Timedelta(days=7))
    kept = next(state.glob("git-*.pkl"))
    kept.write_bytes(kept.read_bytes()[: kept.stat().st_size // 2])  # a run killed mid-write
    again = load_tables(GitSource(path, state_dir=state), pd.Timedelta(days=7))
    assert again.new_commits == 120  # read from the start again, with a warning
    pd.testing.assert_frame_equal(first.deploy_records, again.deploy_records)
    assert not list(state.glob("*.tmp"))
