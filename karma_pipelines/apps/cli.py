"""The `karma-pipelines` command line: a public interface (names, flags and JSON shapes are stable)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from karma_pipelines.apps import backtest_cli, graph_cli
from karma_pipelines.apps.allocator import use_system_allocator
from karma_pipelines.apps.arguments import (
    HOME,
    count,
    folder,
    layout_argument,
    port,
    probability,
)
from karma_pipelines.apps.home import TELEMETRY_OFF
from karma_pipelines.apps.suggest_eval import add_suggest_eval, ranker_text, with_ranker
from karma_pipelines.apps.whatif import register as register_whatif
from karma_pipelines.sources.git.layout import DEFAULT_LAYOUT, Layouts

LAYOUT = layout_argument(DEFAULT_LAYOUT)  # every `--layout`: repeatable, a list of patterns
EPILOG = """exit codes: 0 success; 1 `run` failed (a step or an error-severity check); 2 bad input or a
refused split; 3 `score --fail-above` blocked. Progress goes to stderr on a terminal (KARMA_PROGRESS=1
forces it on, 0 off); stdout carries only the result."""


def _simulate(args: argparse.Namespace) -> int:
    from karma_pipelines.apps.progress import Progress
    from karma_pipelines.simulator import SimulationConfig, simulate_world

    progress = Progress()
    config = SimulationConfig(
        seed=args.seed,
        components=args.components,
        days=args.days,
        promotion_habits=args.promotion_habits,
        twins=args.twins,
    )
    if args.deploys:  # sized by deploys: the components for about that many over --days
        from dataclasses import replace

        from karma_pipelines.simulator.sizing import components_for_deploys

        config = replace(config, components=components_for_deploys(args.deploys, args.days))
    with progress.stage(f"simulating {config.components} components over {args.days} days into {args.out}"):
        summary = simulate_world(Path(args.out), config)
    progress.note(
        f"wrote {summary.get('events', 0):,} events ({summary.get('deploys', 0):,} deploys, "
        f"{summary.get('rollbacks', 0):,} rollbacks) in {summary.get('files', 0):,} day files"
    )
    print(json.dumps(summary, indent=2, default=str))
    return 0


def _run(args: argparse.Namespace) -> int:
    from karma_pipelines.apps.progress import Progress

    progress = Progress()
    with progress.stage("loading Dagster and the definitions"):
        from karma_pipelines.apps.home import prepare_home
        from karma_pipelines.defs.run import parse_source, run_pipeline
        from karma_pipelines.defs.summary import format_summary

    home = Path(args.home).resolve()
    source = parse_source(args.source, home, Layouts.of(args.layout).key, args.ref)
    prepare_home(home)  # --home decides every store, whatever DAGSTER_HOME says
    with progress.stage(f"materializing every asset of {args.source} on the Dagster instance"):
        summary = run_pipeline(source, home, progress=progress)
    progress.note("run finished: " + ("succeeded" if summary["success"] else "FAILED (see the summary)"))
    print(json.dumps(summary, indent=2, default=str) if args.json else format_summary(summary, home))
    return 0 if summary["success"] else 1


def _ui(args: argparse.Namespace) -> int:
    from karma_pipelines.apps.ui import serve

    return serve(Path(args.home), args.dagster_port, args.mlflow_port)


def _score(args: argparse.Namespace) -> int:
    from karma_pipelines.apps.progress import Progress
    from karma_pipelines.pipeline.scoring import load_scorer, worktree_commit
    from karma_pipelines.sources.git.log import resolve_ref

    progress = Progress()
    repo = Path(args.repo)
    with progress.stage("loading the champion and the kept history"):
        scorer = load_scorer(repo, Path(args.home), args.layout)
    progress.note(f"champion: models:/karma-rollback-forecaster version {scorer.model_version}")
    head = resolve_ref(repo, "HEAD") if args.worktree else None
    rev = worktree_commit(repo) if args.worktree else args.rev
    uncommitted = bool(args.worktree and rev != head)
    with progress.stage("reading the commit and scoring its deploys"):
        result = scorer.score(rev, uncommitted_on=head if uncommitted else None, whatif=args.whatif)
    gate = args.fail_above is not None and result["max_score"] > args.fail_above
    result.update(fail_above=args.fail_above, blocked=bool(gate))
    if args.json:
        print(json.dumps(result))
        return 3 if gate else 0
    n, base = len(result["deploys"]), result.get("test_base_rate")
    what = (
        f"uncommitted changes on top of {result['commit'][:12]}"
        if result.get("uncommitted")
        else f"commit {result['commit'][:12]}"
    )
    print(f"{what}: {n} deploy(s), champion version {result['version']}")
    beside = f" (base rate {base:.1%})" if base is not None else ""
    for d in result["deploys"]:
        print(f"  {d['score']:6.1%} risk{beside}  {d['component']}: {d['reasons']}")
        if "whatif" in d:
            w = d["whatif"]
            follow = ", ".join(p["component"] for p in w.get("promotion_path", [])) or "none"
            print(
                f"         invalidates {len(w.get('blast_radius', []))} downstream; promotion path: {follow}"
            )
    if not n:
        print("  no component config changed: nothing to deploy, nothing to score")
    if gate:
        print(f"risk {result['max_score']:.1%} is above {args.fail_above:.1%}: blocking")
    return 3 if gate else 0


def _suggest(args: argparse.Namespace) -> int:
    from karma_pipelines.apps.progress import Progress
    from karma_pipelines.suggester import load_suggester_spec, read_code_evidence, suggest, train_suggester
    from karma_pipelines.suggester.cli_support import champion, load_corpus, with_code_report, with_config

    progress = Progress()
    with progress.stage("reading the configs"):
        corpus = load_corpus(args.repo, args.configs, args.layout)
    for path, reason in corpus.refused.items():  # every file left out, and why: never a silent skip
        print(f"karma-pipelines suggest: warning: skipped {path}: {reason}", file=sys.stderr)
    component = args.component
    if args.config:
        corpus, component = with_config(corpus, Path(args.config), args.layout, args.component)
    elif component and component not in set(corpus.configs["key"]) | set(corpus.configs["component"]):
        raise ValueError(f"--component {component!r}: no such component in the corpus")
    progress.note(f"read {len(corpus.configs):,} configs")
    code = read_code_evidence(Path(args.iac)) if args.iac else None
    spec = load_suggester_spec()
    if args.model == "champion":
        with progress.stage("loading the champion suggester and ranking fields"):
            booster, threshold = champion(Path(args.home))
            found = suggest(
                booster, corpus, component, args.top, code=code, spec=spec, unused_threshold=threshold
            )
    else:
        with progress.stage("training the suggester on the corpus"):
            booster = train_suggester(corpus, spec, code)
        with progress.stage("ranking missing and unused fields"):
            found = suggest(booster, corpus, component, args.top, code=code, spec=spec)
    progress.note(f"checked {len(found):,} component(s)")
    code_lines = with_code_report(found, code, corpus) if code is not None else []
    found = with_ranker(found, booster if args.model == "train" else None)
    if args.json:
        print(json.dumps(found[0] if component and len(found) == 1 else found))
        return 0
    for line in code_lines:
        print(line)
    with_any = [item for item in found if item["missing"] or item["unused"]]
    for item in with_any:
        print(f"{item['component']} ({item['environment']})")  # one key may be in several environments
        for kind in ("missing", "unused"):
            for s in item[kind]:
                print(f"  {kind:8s} {s['score']:.3f}  {s['field']}: {s['reason']}")
    missing = sum(len(item["missing"]) for item in found)
    unused = sum(len(item["unused"]) for item in found)
    print(
        f"{len(found):,} component(s) checked, {len(with_any):,} with suggestions: "
        f"{missing:,} missing and {unused:,} unused field(s); {ranker_text(found)}"
    )
    return 0


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("karma-pipelines")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="karma-pipelines",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    sim = sub.add_parser("simulate", help="write a simulated Karma world (events, configs, truth)")
    sim.add_argument("--out", required=True, help="folder to write the world to")
    sim.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    sim.add_argument("--components", type=int, default=240, help="number of components (default 240)")
    sim.add_argument("--days", type=int, default=180, help="length of the history in days (default 180)")
    sim.add_argument(
        "--deploys", type=count, default=None,
        help="size the world by deploys: about N deploys over --days (sets the components; "
        "simulator/sizing.py)",
    )  # fmt: skip
    sim.add_argument(
        "--promotion-habits",
        action="store_true",
        help="engineers promote staging -> prod with habits whose health effects are planted (truth in "
        "ground_truth/promotion_strategies.csv)",
    )
    sim.add_argument(
        "--twins", type=int, default=0,
        help="plant N unhealthy producers with healthy twins (truth: ground_truth/planted_rewrites.csv)",
    )  # fmt: skip
    sim.set_defaults(func=_simulate)

    backtest_cli.register(sub, LAYOUT)  # `backtest`: karma_pipelines/apps/backtest_cli.py

    sc = sub.add_parser("score", help="rollback risk of a commit not deployed yet, with reasons")
    sc.add_argument("--repo", required=True, help="the Git repository of component configs")
    sc.add_argument("--rev", default="HEAD", help="the commit to score (default HEAD)")
    sc.add_argument("--worktree", action="store_true", help="score the uncommitted changes instead")
    sc.add_argument("--layout", **LAYOUT)
    sc.add_argument("--home", **HOME, help="MLflow store folder (default .karma)")
    sc.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    sc.add_argument("--fail-above", type=probability, default=None, help="exit 3 when any risk exceeds this")
    sc.add_argument(
        "--whatif", action="store_true",
        help="also each deploy's what-if: changed fields, blast radius and promotion path",
    )  # fmt: skip
    sc.set_defaults(func=_score)

    sg = sub.add_parser("suggest", help="missing and unused config fields, ranked, with a reason")
    corpus = sg.add_mutually_exclusive_group(required=True)
    corpus.add_argument("--repo", help="a Git repository of component configs (its latest configs)")
    corpus.add_argument("--configs", help="a folder of JSON/YAML configs laid out as --layout")
    sg.add_argument("--layout", **LAYOUT)
    sg.add_argument("--iac", type=folder, help="an IaC repository: which fields each type's Terraform reads")
    sg.add_argument("--component", default=None, help="only this component (`<type>/<nickname>`)")
    sg.add_argument("--config", default=None, help="a config file to check against the corpus")
    sg.add_argument("--top", type=count, default=5, help="suggestions of each kind per component (default 5)")
    sg.add_argument(
        "--model",
        choices=["train", "champion"],
        default="train",
        help="train on the corpus given (default) or load the registered champion",
    )
    sg.add_argument("--home", **HOME, help="MLflow store folder for --model champion")
    sg.add_argument("--json", action="store_true", help="print JSON on stdout")
    sg.set_defaults(func=_suggest)
    add_suggest_eval(sub)  # `suggest-eval`: karma_pipelines/apps/suggest_eval.py
    register_whatif(sub)  # `whatif`, `rewrites`: karma_pipelines/apps/whatif.py
    graph_cli.register(sub, LAYOUT)  # `graph anomalies`: karma_pipelines/apps/graph_cli.py

    run = sub.add_parser("run", help="materialize every asset on the DAGSTER_HOME instance")
    run.add_argument(
        "--source", default="simulator", help="'simulator' (default), 'events:/path' or 'git:/path'"
    )
    run.add_argument("--layout", **LAYOUT)
    run.add_argument("--ref", default=None, help="Git ref to follow (default HEAD)")
    run.add_argument("--home", **HOME, help="folder of the stores (default .karma)")
    run.add_argument("--json", action="store_true", help="print the summary as JSON")
    run.set_defaults(func=_run)

    ui = sub.add_parser("ui", help="start Dagster and MLflow UIs on 127.0.0.1 (Ctrl-C stops both)")
    ui.add_argument("--home", **HOME, help="folder of the stores (default .karma)")
    ui.add_argument("--dagster-port", type=port, default=3000, help="Dagster UI port (default 3000)")
    ui.add_argument("--mlflow-port", type=port, default=5000, help="MLflow UI port (default 5000)")
    ui.set_defaults(func=_ui)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.update(TELEMETRY_OFF)  # no command sends usage data (MLflow's opt-out variables)
    use_system_allocator()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"karma-pipelines {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
