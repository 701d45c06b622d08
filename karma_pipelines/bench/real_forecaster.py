"""`make bench-real` forecaster section: the rollback forecaster's backtest of one real Git history.

Per repository: commits read, config-touching commits and the share of the test period's that got a
score, the model per deploy and per commit (a commit's score is its riskiest deploy's) beside every
baseline with bootstrap intervals, capture@10% against the point-in-time parrot, a rolling-origin
backtest, the ablation by feature group, seconds and peak RSS.

The `forecaster:` entry of assets/bench/real_repos.yaml: `layouts` (a file belongs to the first that
matches), and optionally `ref` (read the history up to this commit only), `horizon` (default 7d),
`windows` (rolling-origin windows, default 3; 0: none), `ablation` (default true). The Git state is kept
in $KARMA_BENCH_REAL_STATE when set (a second run reads only new commits), else in a temporary folder.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pandas as pd

from karma_pipelines.bench.common import ablation, peak_rss_mib, rounded, timed, with_changes

VIEWS = {"deploy": "model", "commit": "commit_level"}


def layout_argument(layouts: list[str]) -> str:
    """The `--layout` value for the Git source: the layouts joined by `;` (a file belongs to the
    first that matches)."""
    return ";".join(layouts)


def test_period_coverage(repo: Path, tip: str, layouts: list[str], start, end, deploys, evaluated) -> dict:
    """Config-touching first-parent commits of [start, end] (a file a layout names, or a YAML/JSON
    file under the layouts' folders, as in coverage.py); how many have a deploy (the model scores
    every deploy: `share_scored`) and how many are in the evaluated population (labelled deploys
    that are not themselves reverts)."""
    from karma_pipelines.sources.git.layout import Layouts
    from karma_pipelines.sources.git.log import find_git_dir, read_commits

    git_dir = find_git_dir(repo)
    matcher = Layouts.of(layouts)
    since = f"--before={int(start.timestamp())}"
    args = ["git", f"--git-dir={git_dir}", "rev-list", "--first-parent", "-1", since]
    before = subprocess.run([*args, tip], capture_output=True, text=True, check=False).stdout.strip()
    config, with_deploy, with_score = set(), set(), set()
    deployed, scored = set(deploys), set(evaluated)
    keep = lambda path: matcher.which(path) is not None or matcher.looks_like_config(path)  # noqa: E731
    for commit in read_commits(git_dir, tip, before or None, keep):
        when = pd.Timestamp(commit.time, unit="s", tz="UTC")
        if not commit.changes or when < start or when > end:
            continue
        config.add(commit.sha)
        with_deploy.update({commit.sha} & deployed)
        with_score.update({commit.sha} & scored)
    n = len(config)
    return {
        "test_config_commits": n,
        "test_commits_scored": len(with_deploy),
        "test_commits_evaluated": len(with_score),
        "share_scored": round(len(with_deploy) / n, 4) if n else None,
        "share_evaluated": round(len(with_score) / n, 4) if n else None,
    }


def _with_ci(metrics: dict, ci: dict | None) -> dict:
    out = {k: round(metrics[k], 4) for k in ("roc_auc", "pr_auc", "capture_at_10")}
    for key, (low, high) in (ci or {}).items():
        out[f"{key}_ci"] = [round(low, 4), round(high, 4)]
    return out


def scorer_table(evaluation) -> dict:
    """view -> scorer -> roc_auc, pr_auc, capture_at_10 and the intervals of the last two."""
    intervals = evaluation.intervals or {}
    deploy = {"model": evaluation.run.metrics, **evaluation.baselines}
    views = {"deploy": deploy, "commit": evaluation.commit_level or {}}
    return {
        view: {name: _with_ci(m, intervals.get(view, {}).get(name)) for name, m in scorers.items()}
        for view, scorers in views.items()
    }


def rolling_summary(rolling: pd.DataFrame | None) -> dict:
    """Per window and view: the model's and the parrot's capture@10% and ROC-AUC."""
    if rolling is None or rolling.empty:
        return {}
    out = {}
    for (window, view), rows in rolling.groupby(["window", "view"]):
        by = rows.set_index("scorer")
        first = rows.iloc[0]
        out[f"window {window} {view}"] = {
            "test": f"{first['test_start']:%Y-%m-%d}..{first['test_end']:%Y-%m-%d}",
            "rows": int(first["test_rows"]) if view == "deploy" else None,
            "model": rounded(by.loc["model", ["roc_auc", "capture_at_10"]].to_dict(), 4),
            "parrot": rounded(by.loc["parrot", ["roc_auc", "capture_at_10"]].to_dict(), 4),
        }
    return out


def bench_repository(repo: Path, entry: dict, spec: dict) -> dict:
    from karma_pipelines.features import build_rollback_features
    from karma_pipelines.pipeline.forecaster import evaluate_forecaster
    from karma_pipelines.pipeline.tables import load_tables
    from karma_pipelines.records.labels import parse_horizon
    from karma_pipelines.sources.git.log import resolve_ref
    from karma_pipelines.sources.open import open_source
    from karma_pipelines.training.rolling_origin import rolling_origin
    from karma_pipelines.training.spec import load_spec

    layouts = list(entry.get("layouts") or ["iac/{env}/{component_type}/{nickname}/config.json"])
    horizon = parse_horizon(str(entry.get("horizon", "7d")))
    r: dict = {"layouts": layout_argument(layouts), "ref": entry.get("ref", "HEAD")}
    state = os.environ.get("KARMA_BENCH_REAL_STATE")
    with tempfile.TemporaryDirectory() as tmp:
        source = open_source("git", repo, r["layouts"], entry.get("ref"), state_dir=Path(state or tmp))
        with timed(r, "extract + validate") as o:
            tables = load_tables(source, horizon)
            o["rows"] = len(tables.deploy_records)
    coverage = getattr(source, "coverage", None)
    if coverage is not None:
        report = coverage.report()
        r["layout coverage (whole history)"] = {k: v for k, v in report.items() if k != "layouts"}
        r["layout coverage per layout"] = report["layouts"]
    deploys, snaps = tables.deploy_records, tables.config_snapshots
    r["commits"] = int(tables.commits)
    r["config_commits (with a deploy)"] = int(deploys["change_id"].nunique())
    r["deploys"] = len(deploys)
    r["reverts (rollback deploys)"] = int(deploys["is_rollback"].sum())
    r["rolled back within horizon"] = int(deploys["rolled_back"].fillna(False).astype(bool).sum())
    with timed(r, "build_rollback_features", len(deploys)):
        features = build_rollback_features(deploys, snaps, horizon=horizon)
    model_spec = load_spec("rollback_forecaster")
    with timed(r, "evaluate_forecaster (model, baselines, intervals)"):
        evaluation = evaluate_forecaster(features, model_spec, horizon, tables.world)
    run = evaluation.run
    test = run.split.test
    r["split_at"] = run.split.split_at.isoformat()
    r["test deploys / commits"] = [int(run.metrics["n"]), int(evaluation.commit_level["model"]["n"])]
    r["test base rate deploy / commit"] = [
        round(run.metrics["base_rate"], 4),
        round(evaluation.commit_level["model"]["base_rate"], 4),
    ]
    tip = resolve_ref(repo, entry.get("ref"))
    period = (run.split.split_at, test["deployed_at"].max())
    r["coverage"] = test_period_coverage(repo, tip, layouts, *period, deploys["change_id"], test["change_id"])
    table = scorer_table(evaluation)
    for view, scorers in table.items():
        for name, figures in scorers.items():
            r[f"{view} {name}"] = figures
    for view, scorers in table.items():
        parrot = scorers["parrot"]["capture_at_10"]
        model = scorers["model"]["capture_at_10"]
        r[f"{view} capture@10 model / parrot"] = round(model / parrot, 3) if parrot else None
    r["chosen params (validation)"] = run.chosen_params
    r["top features (gain)"] = run.importance.head(12)["feature"].tolist()
    windows = int(entry.get("windows", 3))
    if windows:
        with timed(r, f"rolling origin ({windows} windows)"):
            rolling = rolling_origin(features, model_spec, horizon, windows=windows)
        r["rolling origin"] = rolling_summary(rolling)
    if entry.get("ablation", True):
        quick = with_changes(model_spec, candidates=[])  # the spec's own parameters, for time
        with timed(r, "ablation by group (spec params)"):
            r["ablation (delta without group, deploy level)"] = ablation(features, quick, horizon)
    r["peak_rss_mib"] = peak_rss_mib()
    return r
