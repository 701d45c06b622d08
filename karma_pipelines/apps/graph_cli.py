"""`karma-pipelines graph anomalies`: the dependency graph's anomalous connections and structural changes
of the last period(s) of a source (`graph.anomalies`), riskiest first, each with its reason."""

from __future__ import annotations

import argparse
import json

from karma_pipelines.apps.arguments import count, finite_json

JSON_KEYS = ("kind", "component", "environment", "other", "score", "reason", "since")


def anomalies_of(tables, top: int, periods: int, freq: str) -> list[dict]:
    """The top findings as JSON-able dicts with JSON_KEYS (`since` in ISO 8601, `other` null when none)."""
    import pandas as pd

    from karma_pipelines.graph.anomalies import findings
    from karma_pipelines.graph.over_time import GraphHistory

    found = findings(GraphHistory.from_tables(tables), freq=freq, periods=periods).head(top)
    out = []
    for row in found.itertuples(index=False):
        since = pd.Timestamp(row.since) if row.since is not None and pd.notna(row.since) else None
        out.append(
            {
                "kind": row.kind,
                "component": row.component,
                "environment": row.environment,
                "other": row.other if isinstance(row.other, str) else None,
                "score": float(row.score),
                "reason": row.reason,
                "since": since.isoformat() if since is not None else None,
            }
        )
    return out


def format_anomalies(items: list[dict]) -> str:
    if not items:
        return "no new edge or structural change in the period"
    lines = []
    for i, a in enumerate(items, 1):
        other = f" -> {a['other']}" if a["other"] else ""
        lines.append(
            f"{i:3d}. {a['score']:.3f}  {a['kind']:14s} {a['component']}{other} ({a['environment']})"
        )
        lines.append(f"       {a['reason']}  [since {a['since']}]")
    return "\n".join(lines)


def _anomalies(args: argparse.Namespace) -> int:
    from karma_pipelines.apps.progress import Progress
    from karma_pipelines.apps.reading import read_tables
    from karma_pipelines.records.labels import parse_horizon
    from karma_pipelines.sources.open import open_source

    progress = Progress()
    if args.repo:
        source = open_source("git", args.repo, args.layout, args.ref)
    else:
        source = open_source("events", args.events)
    tables = read_tables(source, parse_horizon("7d"), progress)
    with progress.stage("building the graph per period, embedding it and scoring its changes"):
        items = anomalies_of(tables, args.top, args.periods, args.freq)
    print(json.dumps(finite_json(items)) if args.json else format_anomalies(items))
    return 0


def register(sub, layout: dict) -> None:
    """`graph` and its subcommand `anomalies` on the `karma-pipelines` subparsers (`layout`: the
    keyword arguments of every `--layout`)."""
    graph = sub.add_parser("graph", help="the dependency graph over time: anomalous connections")
    commands = graph.add_subparsers(dest="graph_command", required=True, help="what to look at")
    an = commands.add_parser(
        "anomalies", help="new edges and structural changes of the last period, riskiest first, with reasons"
    )
    src = an.add_mutually_exclusive_group(required=True)
    src.add_argument("--repo", help="a Git repository of component configs")
    src.add_argument("--events", help="a world folder written by `karma-pipelines simulate`")
    an.add_argument("--layout", **layout)
    an.add_argument("--ref", default=None, help="branch, tag or commit (default HEAD)")
    an.add_argument("--top", type=count, default=10, help="findings to print (default 10)")
    an.add_argument("--periods", type=count, default=1, help="last periods to score (default 1)")
    an.add_argument("--freq", choices=["W", "D"], default="W", help="period: W week (default), D day")
    an.add_argument("--json", action="store_true", help=f"print a JSON list of {{{', '.join(JSON_KEYS)}}}")
    an.set_defaults(func=_anomalies)
