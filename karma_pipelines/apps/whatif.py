"""`karma-pipelines whatif` (the impact of a proposed change before it rolls out) and
`karma-pipelines rewrites` (safe dependency-graph rewrites), on an event log or a Git history."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from karma_pipelines.apps.arguments import HOME, json_text, layout_argument, output_file
from karma_pipelines.sources.git.layout import DEFAULT_LAYOUT


def _sources(args) -> tuple[object, list[str]]:
    """(the source, the `karma.source` keys whose champion serves it, best first)."""
    from karma_pipelines.sources.open import open_source

    if args.repo:
        path = Path(args.repo).resolve()
        return open_source("git", args.repo, args.layout, args.ref), [f"git:{path}"]
    path = Path(args.events).resolve()
    return open_source("events", args.events), [f"events:{path}", f"simulator:{path}"]


def load_engine(args, progress, command: str):
    """The what-if engine on the source's history, with the champion forecaster and field suggester
    of `--home` (a warning on stderr, and no risk, when there is no champion forecaster)."""
    from karma_pipelines.apps.reading import read_tables
    from karma_pipelines.records import DEFAULT_HORIZON
    from karma_pipelines.whatif.impact import WhatIfEngine
    from karma_pipelines.whatif.risk import load_forecaster
    from karma_pipelines.whatif.suggestions import FieldSuggester

    source, keys = _sources(args)
    tables = read_tables(source, DEFAULT_HORIZON, progress)
    if tables.deploy_records.empty:
        raise ValueError(f"{args.repo or args.events}: no deploys in the history")
    forecaster = suggester = None
    with progress.stage("loading the champion forecaster and field suggester"):
        try:
            forecaster = load_forecaster(Path(args.home), keys)
        except ValueError as exc:
            print(f"karma-pipelines {command}: warning: {exc}; risk is not scored", file=sys.stderr)
        try:
            suggester = FieldSuggester.champion(Path(args.home))
        except ValueError:
            suggester = None
    if suggester is None:
        with progress.stage("no champion suggester: training one on the latest configs"):
            suggester = FieldSuggester.trained(tables.config_snapshots)
    return WhatIfEngine.from_tables(tables, forecaster, suggester)


def _whatif(args: argparse.Namespace) -> int:
    from karma_pipelines.apps.progress import Progress
    from karma_pipelines.whatif.change import load_change
    from karma_pipelines.whatif.report import whatif_markdown

    change = load_change(args.change)  # a bad file fails before any work
    progress = Progress()
    engine = load_engine(args, progress, "whatif")
    with progress.stage(f"what if {change.component} changes"):
        result = engine.analyse(change)
    if args.plot:
        from karma_pipelines.whatif.report import plot_blast_radius

        plot_blast_radius(result, args.plot)
    print(
        json_text(result.as_json()) if args.json else whatif_markdown(result), end="\n" if args.json else ""
    )
    return 0


def _rewrites(args: argparse.Namespace) -> int:
    from karma_pipelines.apps.progress import Progress
    from karma_pipelines.whatif.rewrite_report import rewrite_markdown
    from karma_pipelines.whatif.rewrites import suggest_rewrites

    progress = Progress()
    engine = load_engine(args, progress, "rewrites")
    with progress.stage("looking for safe rewrites of the dependency graph"):
        found = suggest_rewrites(engine)
    print(
        json_text([r.as_json() for r in found]) if args.json else rewrite_markdown(found),
        end="\n" if args.json else "",
    )
    return 0


def _source_flags(parser) -> None:
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--events", help="a world folder (event log) written by `karma-pipelines simulate`")
    src.add_argument("--repo", help="a Git repository of component configs")
    parser.add_argument("--layout", **layout_argument(DEFAULT_LAYOUT))
    parser.add_argument("--ref", default=None, help="branch, tag or commit of --repo (default HEAD)")
    parser.add_argument("--home", **HOME, help="MLflow store with the champions (default .karma)")
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def register(sub) -> None:
    """Register `whatif` and `rewrites` on the `karma-pipelines` subparsers."""
    wi = sub.add_parser(
        "whatif", help="blast radius, rollback risk, field suggestions and promotion path of a change"
    )
    _source_flags(wi)
    wi.add_argument(
        "--change", required=True,
        help='a JSON file: {"component": "<type>/<nickname>", "environment": "<env>", "config": {...}} '
        'or the same with "patch": {...} (fields to set; null removes one)',
    )  # fmt: skip
    wi.add_argument("--plot", type=output_file, help="also draw the blast radius to this PNG file")
    wi.set_defaults(func=_whatif)
    rw = sub.add_parser("rewrites", help="safe dependency-graph rewrites with their predicted effect")
    _source_flags(rw)
    rw.set_defaults(func=_rewrites)
