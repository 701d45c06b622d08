"""Bad command-line input is refused by argparse (exit 2, naming the flag) before any work starts;
`backtest --json` never prints `NaN`; a challenger with a NaN metric is never promoted."""

import json
import math

import numpy as np
import pytest

from karma_pipelines.apps.arguments import finite_json, json_text
from karma_pipelines.apps.cli import build_parser, main
from karma_pipelines.tracking.registry import decide_promotion
from karma_pipelines.training.spec import PromotionGate


def refused(capsys, argv: list[str], *needles: str) -> str:
    """`main(argv)` exits 2 while parsing; stderr names every needle."""
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    for needle in needles:
        assert needle in err, err
    return err


@pytest.mark.parametrize("value", ["2", "-0.1", "1.0001", "nan", "NaN", "inf", "-inf", "high"])
def test_fail_above_outside_zero_one_or_nan_is_refused(capsys, tmp_path, value):
    refused(capsys, ["score", "--repo", str(tmp_path), f"--fail-above={value}"], "--fail-above", value)


@pytest.mark.parametrize("value", ["0", "0.5", "1"])
def test_fail_above_in_zero_one_is_accepted(tmp_path, value):
    args = build_parser().parse_args(["score", "--repo", str(tmp_path), "--fail-above", value])
    assert args.fail_above == float(value)


@pytest.mark.parametrize("value", ["-1", "0", "two"])
def test_suggest_top_must_be_positive(capsys, tmp_path, value):
    refused(capsys, ["suggest", "--configs", str(tmp_path), "--top", value], "--top")


def test_suggest_top_one_and_default_are_accepted(tmp_path):
    parser = build_parser()
    assert parser.parse_args(["suggest", "--configs", str(tmp_path), "--top", "1"]).top == 1
    assert parser.parse_args(["suggest", "--configs", str(tmp_path)]).top == 5


def test_suggest_iac_must_exist(capsys, tmp_path):
    missing = tmp_path / "nonexistent"
    refused(capsys, ["suggest", "--configs", str(tmp_path), "--iac", str(missing)], "--iac", str(missing))
    a_file = tmp_path / "main.tf"
    a_file.write_text("")
    refused(capsys, ["suggest", "--configs", str(tmp_path), "--iac", str(a_file)], "--iac", str(a_file))
    assert build_parser().parse_args(["suggest", "--configs", str(tmp_path), "--iac", str(tmp_path)]).iac


def test_backtest_predictions_cannot_be_a_folder(capsys, tmp_path):
    argv = ["backtest", "--events", str(tmp_path), "--predictions", str(tmp_path)]
    refused(capsys, argv, "--predictions", str(tmp_path))
    nowhere = tmp_path / "no" / "such" / "p.csv"
    refused(capsys, ["backtest", "--events", str(tmp_path), "--predictions", str(nowhere)], "--predictions")
    ok = build_parser().parse_args(["backtest", "--events", str(tmp_path), "--predictions", "p.csv"])
    assert ok.predictions == "p.csv"


@pytest.mark.parametrize(
    "argv",
    [
        ["backtest", "--events", "."],
        ["score", "--repo", "."],
        ["suggest", "--configs", "."],
        ["run"],
        ["ui"],
    ],
)
def test_home_cannot_be_a_file(capsys, tmp_path, argv):
    a_file = tmp_path / "home"
    a_file.write_text("not a folder")
    refused(capsys, [*argv, "--home", str(a_file)], "--home", str(a_file))
    # A folder that does not exist yet is fine: it is created.
    assert build_parser().parse_args([*argv, "--home", str(tmp_path / "new")]).home == str(tmp_path / "new")


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--dagster-port", "99999"),
        ("--dagster-port", "65536"),
        ("--mlflow-port", "0"),
        ("--mlflow-port", "-1"),
    ],
)
def test_ui_ports_must_be_in_range(capsys, flag, value):
    refused(capsys, ["ui", flag, value], flag, value)


def test_ui_ports_at_the_bounds_are_accepted():
    args = build_parser().parse_args(["ui", "--dagster-port", "1", "--mlflow-port", "65535"])
    assert (args.dagster_port, args.mlflow_port) == (1, 65535)
    assert (
        build_parser().parse_args(["ui"]).dagster_port,
        build_parser().parse_args(["ui"]).mlflow_port,
    ) == (
        3000,
        5000,
    )


def test_finite_json_replaces_nan_and_infinity_with_null():
    report = {
        "roc_auc": float("nan"),
        "brier": 0.12,
        "test_deploys": 40,
        "per_type": [{"pr_auc": math.inf}, {"pr_auc": -math.inf}, {"pr_auc": 0.5}],
        "pair": (np.float64("nan"), np.float32("nan"), np.float32(0.25)),
        "ok": True,
        "name": "nan",
    }
    converted = finite_json(report)
    assert converted["roc_auc"] is None and converted["brier"] == 0.12 and converted["test_deploys"] == 40
    assert [d["pr_auc"] for d in converted["per_type"]] == [None, None, 0.5]
    assert converted["pair"][:2] == [None, None] and converted["ok"] is True and converted["name"] == "nan"
    text = json_text(report)
    assert "NaN" not in text and "Infinity" not in text
    parsed = json.loads(text, parse_constant=lambda c: pytest.fail(f"invalid JSON constant {c}"))
    assert parsed["roc_auc"] is None and parsed["per_type"][2]["pr_auc"] == 0.5
    assert report["roc_auc"] != report["roc_auc"]  # the input is not changed


GATE = PromotionGate(primary_metric="capture_at_10", min_primary_gain=0.0, pr_auc_tolerance=0.01)


@pytest.mark.parametrize("champion", [None, {"capture_at_10": 0.5, "pr_auc": 0.4}])
def test_nan_challenger_metrics_never_promote(champion):
    nan_primary = decide_promotion({"capture_at_10": math.nan, "pr_auc": 0.9}, champion, GATE)
    assert not nan_primary.promote and "capture_at_10" in nan_primary.reason and "NaN" in nan_primary.reason
    nan_pr = decide_promotion({"capture_at_10": 0.9, "pr_auc": math.nan}, champion, GATE)
    assert not nan_pr.promote and "pr_auc" in nan_pr.reason and "NaN" in nan_pr.reason
    assert nan_pr.as_tags()["promotion.decision"] == "keep"


def test_a_nan_champion_metric_does_not_block_a_good_challenger():
    champion = {"capture_at_10": math.nan, "pr_auc": math.nan}
    assert decide_promotion({"capture_at_10": 0.5, "pr_auc": 0.4}, champion, GATE).promote
