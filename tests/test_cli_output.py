"""What a user sees: the `run` summary tells the truth, degenerate splits are refused, long work shows
progress on stderr (never on stdout), and the human forms of the commands read well."""

import contextlib
import io
import json
import os
import tomllib

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import yaml

from karma_pipelines.apps.cli import build_parser, main
from karma_pipelines.defs.summary import format_summary, registry_aliases
from karma_pipelines.pipeline.backtest import format_report
from karma_pipelines.pipeline.tables import counts, load_tables
from karma_pipelines.records import DEFAULT_HORIZON
from karma_pipelines.sources.open import open_source
from karma_pipelines.training.explain import explain
from tests.conftest import ROOT

REFUSED = "use a longer history or another --split-date"


@pytest.fixture(scope="module")
def small_world(tmp_path_factory):
    """30 components over 30 days (seed 7): its default split leaves a side with one class only."""
    out = tmp_path_factory.mktemp("small") / "world"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["simulate", "--out", str(out), "--components", "30", "--days", "30"]) == 0
    return out


@pytest.fixture(scope="module")
def small_run(small_world, tmp_path_factory):
    """One `run --json` on the small world with progress forced on: (exit code, stdout, stderr, home)."""
    home = tmp_path_factory.mktemp("home")
    elsewhere = tmp_path_factory.mktemp("elsewhere")  # DAGSTER_HOME / KARMA_HOME: --home must win
    names = ("DAGSTER_HOME", "KARMA_HOME", "KARMA_PROGRESS", "MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK")
    saved = {k: os.environ.get(k) for k in names}
    os.environ.update(DAGSTER_HOME=str(elsewhere), KARMA_HOME=str(elsewhere), KARMA_PROGRESS="1")
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["run", "--source", f"events:{small_world}", "--home", str(home), "--json"])
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    assert not any(elsewhere.iterdir()), "--home decides every store"
    return code, out.getvalue(), err.getvalue(), home


def test_home_decides_every_store(small_run):
    home = small_run[3]
    assert "enabled: false" in (home / "dagster" / "dagster.yaml").read_text()  # telemetry off
    assert list((home / "dagster" / "storage").rglob("*.pkl")), "the IO manager's pickles"
    assert (home / "dagster" / "history").is_dir() or list((home / "dagster").glob("*.db"))
    assert list((home / "gx_docs").glob("*.html")) and (home / "mlflow.db").is_file()


def test_run_on_a_degenerate_world_says_what_failed_and_exits_1(small_run):
    code, out, err, home = small_run
    summary = json.loads(out)  # stdout is the JSON document only; progress went to stderr
    assert code == 1 and summary["success"] is False
    assert {"dagster_run_id", "success", "assets", "checks", "promotion"} <= set(summary)
    text = format_summary(summary, home)
    assert text.splitlines()[0].endswith("FAILED")
    failures = {**summary["failed_steps"], **{n: c["reason"] for n, c in summary["failed_checks"].items()}}
    assert failures, "the run failed: a step or a check must be named"
    for name, reason in failures.items():
        assert name in text and reason and reason in text
    # Whatever failed, the forecaster's champion is what the registry says, never a guess.
    champion = registry_aliases(home)["karma-rollback-forecaster"]["champion"]
    forecaster = [line for line in text.splitlines() if "karma-rollback-forecaster" in line]
    if champion is None:
        assert not any("alias champion" in line for line in forecaster)
    # Progress lines per step on stderr.
    assert "✓ source_records" in err and "rollback_forecaster" in err
    assert "deploy_records: row_count" in err and "STEP_FAILURE" not in err  # no Dagster log chatter


def test_run_and_backtest_count_the_same_labelled_deploys(small_world, small_run):
    summary = json.loads(small_run[1])
    tables = load_tables(open_source("events", str(small_world)), DEFAULT_HORIZON)
    assert summary["labelled_ordinary"]["labelled"] == counts(tables)["labelled"]
    assert "ordinary deploys labelled" in format_summary(summary, small_run[3])


def test_run_belongs_to_the_code_location_the_ui_loads(small_run):
    """`run`'s Dagster run carries the origin of the code location `workspace.yaml` (what `make ui` loads)
    and `[tool.dagster]` declare, as a run launched from the UI does: the UI's Overview timeline and the
    location's run list group runs by it and skip runs without one."""
    (entry,) = yaml.safe_load((ROOT / "workspace.yaml").read_text())["load_from"]
    location, module = entry["python_module"]["location_name"], entry["python_module"]["module_name"]
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["dagster"]
    assert (tool["code_location_name"], tool["module_name"]) == (location, module)
    with dg.DagsterInstance.from_config(str(small_run[3] / "dagster")) as instance:
        runs = instance.get_runs()
        label = {".dagster/repository": f"__repository__@{location}"}
        labelled = instance.get_runs(dg.RunsFilter(tags=label))
    assert [r.run_id for r in runs] == [json.loads(small_run[1])["dagster_run_id"]]
    assert [r.run_id for r in labelled] == [r.run_id for r in runs]  # the UI's filter by code location
    for run in runs:
        assert run.remote_job_origin is not None, f"run {run.run_id} has no code-location origin"
        assert run.remote_job_origin.location_name == location
        assert run.remote_job_origin.repository_origin.repository_name == "__repository__"  # of a Definitions
        assert run.remote_job_origin.job_name == run.job_name == "karma_ingest_job"
        pointer = run.job_code_origin.repository_origin.code_pointer
        assert (pointer.module, pointer.fn_name) == (module, "defs")


SUMMARY = {
    "dagster_run_id": "r1",
    "success": False,
    "assets": {
        "source_records": {"event_lines": 10},
        "quarantined_records": {"dagster/row_count": 1},
        "deploy_records": {"dagster/row_count": 5},
        "rollback_features": {"features": 3, "dagster/row_count": 5},
        "rollback_forecaster": {
            "test_roc_auc": 0.4,
            "registered_model": "karma-rollback-forecaster",
            "version": 1,
        },
    },
    "checks": {"check_rollback_forecaster_beats_random": False, "check_rollback_forecaster_challenger": True},
    "failed_checks": {
        "check_rollback_forecaster_beats_random": {
            "severity": "ERROR",
            "reason": "ROC-AUC 0.400 (must be > 0.5)",
        }
    },
    "failed_steps": {},
    "skipped_steps": ["rollback_forecaster_champion"],
    "not_materialized": ["rollback_forecaster_champion", "deploy_risk_scores"],
    "promotion": {"promoted": True, "reason": "no champion yet"},
    "aliases": {"karma-rollback-forecaster": {"champion": None, "challenger": "1"}},
    "labelled_ordinary": {"labelled": 4, "rolled_back": 1, "rollback_rate": 0.25},
}


def test_format_summary_names_failed_checks_and_reads_aliases_from_the_registry(tmp_path):
    text = format_summary(SUMMARY, tmp_path)
    assert "alias champion" not in text and "version 1 (alias challenger); there is no champion" in text
    assert "check_rollback_forecaster_beats_random: ROC-AUC 0.400 (must be > 0.5)" in text
    assert "1/2 passed" in text and "rollback_forecaster_champion" in text and "deploy_risk_scores" in text
    champion = {**SUMMARY, "aliases": {"karma-rollback-forecaster": {"champion": "1", "challenger": "1"}}}
    assert "version 1 (alias champion, challenger)" in format_summary(champion, tmp_path)


@pytest.mark.parametrize("split", [None, "2026-01-06"])
def test_backtest_refuses_a_split_that_leaves_a_side_with_one_class(
    small_world, tmp_path, capsys, split, monkeypatch
):
    monkeypatch.setenv("KARMA_PROGRESS", "1")
    extra = ["--split-date", split] if split else []
    code = main(["backtest", "--events", str(small_world), "--home", str(tmp_path), "--json", *extra])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert "karma-pipelines backtest: error: the split at" in captured.err and REFUSED in captured.err
    # Progress (forced on) names each stage with its counts, on stderr only.
    assert "event lines from 30 file(s)" in captured.err and "validated:" in captured.err
    assert "deploys × " in captured.err


def test_progress_is_silent_without_a_terminal_and_stdout_stays_json(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("KARMA_PROGRESS", raising=False)
    assert main(["simulate", "--out", str(tmp_path / "a"), "--components", "4", "--days", "3"]) == 0
    quiet = capsys.readouterr()
    assert quiet.err == "" and json.loads(quiet.out)["components"] == 4
    monkeypatch.setenv("KARMA_PROGRESS", "1")
    assert main(["simulate", "--out", str(tmp_path / "b"), "--components", "4", "--days", "3"]) == 0
    loud = capsys.readouterr()
    assert json.loads(loud.out) == {**json.loads(quiet.out), "out": str(tmp_path / "b")}
    assert "simulating 4 components over 3 days" in loud.err and "day files" in loud.err


def test_version_and_every_flag_has_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip().startswith("karma-pipelines 0.")
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    for name, sub in subparsers.items():
        for action in sub._actions:
            assert action.help, f"{name} {action.option_strings}: no help text"


def test_backtest_report_puts_model_baselines_and_oracle_side_by_side():
    metrics = {
        "roc_auc": 0.8,
        "pr_auc": 0.5,
        "brier": 0.1,
        "capture_at_5": 0.2,
        "capture_at_10": 0.4,
        "capture_at_50": 0.9,
    }
    result = {
        "counts": {"commits": 10, "deploys": 12, "labelled": 9, "rolled_back": 2},
        "model": metrics,
        "baselines": {"random": {**metrics, "roc_auc": 0.5}, "parrot": metrics, "logistic": metrics},
        "oracle": {**metrics, "roc_auc": 0.95},
        "split_at": "2026-02-01T00:00:00+00:00",
        "test_deploys": 4,
        "test_base_rate": 0.25,
        "ratios": {"capture_at_10_vs_random": 2.0},
        "horizon_days": 7.0,
        "mlflow_run": "http://x",
    }
    text = format_report(result)
    assert "test period: 4 deploys, base rate 0.250" in text and "9 ordinary deploys labelled" in text
    rows = {
        line.split("  ")[1].strip(): line
        for line in text.splitlines()
        if line.startswith("  ") and "0." in line
    }
    assert {"model (LightGBM)", "random", "parrot", "logistic", "oracle (true p)"} <= set(rows)
    assert "0.950" in rows["oracle (true p)"] and "capture@10% vs random 2.00x" in text


class _Booster:
    """Contributions chosen by hand: a zero count and an off flag raise risk, a real count too."""

    names = ["comp_prior_rollbacks", "is_weekend", "n_fields_touched", "author_rollback_rate"]

    def feature_name(self):
        return self.names

    def predict(self, x, pred_contrib=False):
        if pred_contrib:
            return np.array([[0.9, 0.8, 0.5, 0.4, -1.0]] * len(x))
        return np.full(len(x), 0.3)


def test_a_count_at_zero_is_never_a_reason_for_risk():
    frame = pd.DataFrame({"comp_prior_rollbacks": [0.0, 2.0], "is_weekend": [0.0, 0.0],
                          "n_fields_touched": [4.0, 4.0], "author_rollback_rate": [0.0, 0.5]})  # fmt: skip
    reasons = explain(_Booster(), frame)["reasons"].tolist()
    assert reasons[0] == "touches 4 fields"
    assert "0 times" not in reasons[0] and "0%" not in reasons[0] and "weekend" not in reasons[0]
    assert reasons[1].startswith("the component was rolled back 2 times before")


def test_suggest_prints_only_components_with_suggestions_and_a_summary(small_world, capsys):
    assert main(["suggest", "--configs", str(small_world / "configs")]) == 0
    lines = capsys.readouterr().out.splitlines()
    *body, summary = lines
    headers = [i for i, line in enumerate(body) if not line.startswith("  ")]
    assert headers and all(i + 1 < len(body) and body[i + 1].startswith("  ") for i in headers)
    assert summary.startswith("30 component(s) checked, ") and f"{len(headers)} with suggestions" in summary
    assert 0 < len(headers) < 30
