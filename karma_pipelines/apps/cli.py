"""The `karma-pipelines` command line: a public interface (names, flags and JSON shapes are stable)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from karma_pipelines.sources.git.layout import DEFAULT_LAYOUT

BACKTEST_EXPERIMENT = "karma-backtest"


def _simulate(args: argparse.Namespace) -> int:
    from karma_pipelines.simulator import SimulationConfig, simulate_world

    config = SimulationConfig(seed=args.seed, components=args.components, days=args.days)
    summary = simulate_world(Path(args.out), config)
    print(json.dumps(summary, indent=2, default=str))
    return 0


def _run(args: argparse.Namespace) -> int:
    from karma_pipelines.defs.run import format_summary, parse_source, run_pipeline

    home = Path(args.home).resolve()
    summary = run_pipeline(parse_source(args.source, home, args.layout, args.ref), home)
    print(json.dumps(summary, indent=2, default=str) if args.json else format_summary(summary, home))
    return 0 if summary["success"] else 1


def _ui(args: argparse.Namespace) -> int:
    from karma_pipelines.apps.ui import serve

    return serve(Path(args.home), args.dagster_port, args.mlflow_port)


def _backtest(args: argparse.Namespace) -> int:
    from karma_pipelines.pipeline.backtest import parse_horizon, predictions_table, report, run_backtest
    from karma_pipelines.pipeline.tables import load_tables
    from karma_pipelines.sources.open import open_source
    from karma_pipelines.tracking.forecaster import track_forecaster
    from karma_pipelines.tracking.store import MlflowTarget

    horizon = parse_horizon(args.horizon)
    if args.repo:
        source = open_source("git", args.repo, args.layout, args.ref)
    else:
        source = open_source("events", args.events)
    tables = load_tables(source, horizon)
    evaluation = run_backtest(tables, args.split_date)
    result = report(tables, evaluation)
    if args.predictions:
        predictions_table(evaluation, tables.deploy_records).to_csv(args.predictions, index=False)
    target = MlflowTarget.local(Path(args.home), experiment=BACKTEST_EXPERIMENT)
    tags = {"kind": "backtest", "source": str(args.repo or args.events)}
    tracked = track_forecaster(target, evaluation, tags, str(args.repo or args.events), register=False)
    result["mlflow_run"] = tracked.registered.run_url
    if args.json:
        print(json.dumps(result, default=str))
    else:
        c, m = result["counts"], result["model"]
        print(
            f"{c['commits']} commits, {c['deploys']} deploys, {c['labelled']} labelled, "
            f"{c['rolled_back']} rolled back; split at {result['split_at']}"
        )
        print("  ".join(f"{k} {v:.4f}" for k, v in m.items()))
        print(f"MLflow run: {result['mlflow_run']}")
    return 0


def _score(args: argparse.Namespace) -> int:
    from karma_pipelines.pipeline.scoring import load_scorer, worktree_commit

    scorer = load_scorer(Path(args.repo), Path(args.home), args.layout)
    rev = worktree_commit(Path(args.repo)) if args.worktree else args.rev
    result = scorer.score(rev)
    gate = args.fail_above is not None and result["max_score"] > args.fail_above
    result["fail_above"] = args.fail_above
    result["blocked"] = bool(gate)
    if args.json:
        print(json.dumps(result))
    else:
        n = len(result["deploys"])
        print(f"commit {result['commit'][:12]}: {n} deploy(s), champion v{result['version']}")
        for d in result["deploys"]:
            print(f"  {d['score']:.3f}  {d['component']}: {d['reasons']}")
        if gate:
            print(f"risk {result['max_score']:.3f} is above {args.fail_above}: blocking")
    return 3 if gate else 0


def _suggest(args: argparse.Namespace) -> int:
    from karma_pipelines.suggester import load_suggester_spec, read_code_evidence, suggest, train_suggester
    from karma_pipelines.suggester.cli_support import champion, load_corpus, with_config

    corpus = load_corpus(args.repo, args.configs, args.layout)
    component = args.component
    if args.config:
        corpus, component = with_config(corpus, Path(args.config), args.layout, args.component)
    elif component and component not in set(corpus.configs["key"]) | set(corpus.configs["component"]):
        raise ValueError(f"--component {component!r}: no such component in the corpus")
    code = read_code_evidence(Path(args.iac)) if args.iac else None
    spec = load_suggester_spec()
    if args.model == "champion":
        booster, threshold = champion(Path(args.home))
        found = suggest(
            booster, corpus, component, args.top, code=code, spec=spec, unused_threshold=threshold
        )
    else:
        found = suggest(
            train_suggester(corpus, spec, code), corpus, component, args.top, code=code, spec=spec
        )
    if args.json:
        print(json.dumps(found[0] if component and len(found) == 1 else found))
        return 0
    for item in found:
        print(item["component"])
        for kind in ("missing", "unused"):
            for s in item[kind]:
                print(f"  {kind:8s} {s['score']:.3f}  {s['field']}: {s['reason']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="karma-pipelines", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    sim = sub.add_parser("simulate", help="write a simulated Karma world (events, configs, truth)")
    sim.add_argument("--out", required=True, help="folder to write the world to")
    sim.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    sim.add_argument("--components", type=int, default=240, help="number of components (default 240)")
    sim.add_argument("--days", type=int, default=180, help="length of the history in days (default 180)")
    sim.set_defaults(func=_simulate)

    bt = sub.add_parser("backtest", help="train on the past of a source and evaluate on its future")
    src = bt.add_mutually_exclusive_group(required=True)
    src.add_argument("--repo", help="a Git repository of component configs")
    src.add_argument("--events", help="a world folder written by `karma-pipelines simulate`")
    bt.add_argument("--layout", default=DEFAULT_LAYOUT)
    bt.add_argument("--ref", default=None, help="branch, tag or commit (default HEAD)")
    bt.add_argument("--split-date", default=None, help="YYYY-MM-DD (default: last 20%% of time is test)")
    bt.add_argument("--horizon", default="7d", help="label horizon, e.g. 7d, 36h (default 7d)")
    bt.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    bt.add_argument("--predictions", default=None, help="write test-period predictions to this CSV")
    bt.add_argument("--home", default=".karma", help="MLflow store folder (default .karma)")
    bt.set_defaults(func=_backtest)

    sc = sub.add_parser("score", help="rollback risk of a commit not deployed yet, with reasons")
    sc.add_argument("--repo", required=True, help="the Git repository of component configs")
    sc.add_argument("--rev", default="HEAD", help="the commit to score (default HEAD)")
    sc.add_argument("--worktree", action="store_true", help="score the uncommitted changes instead")
    sc.add_argument("--layout", default=DEFAULT_LAYOUT)
    sc.add_argument("--home", default=".karma", help="MLflow store folder (default .karma)")
    sc.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    sc.add_argument("--fail-above", type=float, default=None, help="exit 3 when any risk exceeds this")
    sc.set_defaults(func=_score)

    sg = sub.add_parser("suggest", help="missing and unused config fields, ranked, with a reason")
    corpus = sg.add_mutually_exclusive_group(required=True)
    corpus.add_argument("--repo", help="a Git repository of component configs (its latest configs)")
    corpus.add_argument("--configs", help="a folder of JSON/YAML configs laid out as --layout")
    sg.add_argument("--layout", default=DEFAULT_LAYOUT)
    sg.add_argument("--iac", default=None, help="an IaC repository: which fields each type's Terraform reads")
    sg.add_argument("--component", default=None, help="only this component (`<type>/<nickname>`)")
    sg.add_argument("--config", default=None, help="a config file to check against the corpus")
    sg.add_argument("--top", type=int, default=5, help="suggestions of each kind per component (default 5)")
    sg.add_argument(
        "--model",
        choices=["train", "champion"],
        default="train",
        help="train on the corpus given (default) or load the registered champion",
    )
    sg.add_argument("--home", default=".karma", help="MLflow store folder for --model champion")
    sg.add_argument("--json", action="store_true", help="print JSON on stdout")
    sg.set_defaults(func=_suggest)

    run = sub.add_parser("run", help="materialize every asset on the DAGSTER_HOME instance")
    run.add_argument(
        "--source", default="simulator", help="'simulator' (default), 'events:/path' or 'git:/path'"
    )
    run.add_argument("--layout", default=DEFAULT_LAYOUT)
    run.add_argument("--ref", default=None, help="Git ref to follow (default HEAD)")
    run.add_argument("--home", default=".karma", help="folder of the stores (default .karma)")
    run.add_argument("--json", action="store_true", help="print the summary as JSON")
    run.set_defaults(func=_run)

    ui = sub.add_parser("ui", help="start Dagster and MLflow UIs on 127.0.0.1 (Ctrl-C stops both)")
    ui.add_argument("--home", default=".karma", help="folder of the stores (default .karma)")
    ui.add_argument("--dagster-port", type=int, default=3000)
    ui.add_argument("--mlflow-port", type=int, default=5000)
    ui.set_defaults(func=_ui)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"karma-pipelines {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
