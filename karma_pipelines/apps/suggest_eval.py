"""`karma-pipelines suggest-eval`: the suggester's masked-field protocol on any repository or folder
(`evaluation.masked_protocol`), model beside the association-rule baseline; with `--iac`, the unused
flags against what the Terraform reads. Also what `suggest` prints about the ranker it chose."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from karma_pipelines.apps.arguments import count, finite_json, folder
from karma_pipelines.sources.git.layout import DEFAULT_LAYOUT

METRICS = ("hit_at_1", "hit_at_5", "mrr")


def load_corpora(repos: list[str] | None, folders: list[str] | None, layouts: list[str], ref: str | None):
    """One corpus from every repository (its tree at `ref`) or folder given, each read with its own
    `--layout` (one layout for all when one is given); a layout that matches nothing is an error."""
    from karma_pipelines.suggester.corpus import corpus_from_folder, corpus_from_tree, merge_corpora

    roots = repos or folders or []
    if len(layouts) not in (1, len(roots)):
        raise ValueError(f"--layout: give one for all or one per corpus ({len(roots)}), not {len(layouts)}")
    parts = []
    for i, root in enumerate(roots):
        layout = layouts[i] if len(layouts) > 1 else layouts[0]
        corpus = (
            corpus_from_tree(Path(root), layout, ref) if repos else corpus_from_folder(Path(root), layout)
        )
        if len(corpus) == 0:
            raise ValueError(f"layout {layout!r} matches no config in {root}")
        parts.append(corpus)
    return merge_corpora(parts)


def evaluate(corpus, iac: str | None, seeds: int, progress=None) -> dict:
    """The protocol's figures (one JSON object); ValueError when no field can be hidden."""
    from karma_pipelines.suggester import load_suggester_spec, read_code_evidence
    from karma_pipelines.suggester.evaluation import code_unused_metrics, masked_protocol
    from karma_pipelines.suggester.model import fit_suggester

    spec = load_suggester_spec()
    code = read_code_evidence(Path(iac)) if iac else None
    start = time.perf_counter()
    result = {"source": corpus.source, **masked_protocol(corpus, spec, code, seeds, progress=progress)}
    if result["cases"] == 0:
        raise ValueError(
            f"{corpus.source}: no optional field to hide (set by at least {spec.min_field_configs} configs "
            f"and fewer than 90% of their type) in {len(corpus)} configs"
        )
    if code is not None:
        if progress:
            progress("unused flags against what the Terraform reads")
        result["unused_vs_code"] = code_unused_metrics(fit_suggester(corpus, spec, code), corpus, code)
    result["seconds"] = round(time.perf_counter() - start, 1)
    return result


def format_result(result: dict) -> str:
    lines = [
        f"{result['source']}: {result['configs']} configs, {result['types']} type(s); "
        f"{result['cases']} hidden fields over {result['seeds']} seed(s); rankers chosen: "
        + ", ".join(result["rankers"]),
        f"{'':10s}" + "".join(f"{m:>10s}" for m in METRICS),
    ]
    for who in ("model", "lightgbm", "baseline"):
        lines.append(f"{who:10s}" + "".join(f"{result[who][m]:10.3f}" for m in METRICS))
    for seed in result["per_seed"]:
        lines.append(f"seed {seed['seed']}: {seed['cases']} cases; ranker {seed['ranker']['reason']}")
    unused = result.get("unused_vs_code")
    if unused:
        lines.append(
            f"unused vs Terraform reads: precision {unused['precision']:.3f}, recall {unused['recall']:.3f} "
            f"({int(unused['n_flagged'])} flagged, {int(unused['n_unread'])} set but never read)"
        )
    return "\n".join(lines)


def _suggest_eval(args: argparse.Namespace) -> int:
    from karma_pipelines.apps.progress import Progress

    progress = Progress()
    with progress.stage("reading the configs"):
        corpus = load_corpora(args.repo, args.configs, args.layout or [DEFAULT_LAYOUT], args.ref)
    progress.note(f"read {len(corpus):,} configs")
    with progress.stage(f"masked-field protocol over {args.seeds} seed(s)"):
        result = evaluate(corpus, args.iac, args.seeds, progress.note)
    print(json.dumps(finite_json(result)) if args.json else format_result(result))
    return 0


def add_suggest_eval(sub) -> None:
    """Register `suggest-eval` on the `karma-pipelines` subparsers."""
    ev = sub.add_parser(
        "suggest-eval", help="Hit@1/Hit@5/MRR of the field suggester vs the association-rule baseline"
    )
    src = ev.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--repo", action="append", help="a Git repository (its configs at --ref); repeat to pool"
    )
    src.add_argument(
        "--configs", action="append", type=folder, help="a folder of configs laid out as --layout; repeatable"
    )
    ev.add_argument(
        "--layout",
        action="append",
        help=f"one for all corpora or one per corpus (default {DEFAULT_LAYOUT!r})",
    )
    ev.add_argument("--ref", default=None, help="branch, tag or commit of --repo (default HEAD)")
    ev.add_argument("--iac", type=folder, help="an IaC repository: also unused flags vs what Terraform reads")
    ev.add_argument("--seeds", type=count, default=3, help="seeds 0..K-1 (default 3)")
    ev.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    ev.set_defaults(func=_suggest_eval)


def with_ranker(found: list[dict], fitted) -> list[dict]:
    """`suggest`'s components, each with the `ranker` it was ranked with (name, why, CV figures)."""
    from karma_pipelines.suggester.ranker import Ranker

    ranker = getattr(fitted, "ranker", None)
    about = (ranker or Ranker(reason="the registered champion: the model alone")).describe()
    return [{**item, "ranker": about} for item in found]


def ranker_text(found: list[dict]) -> str:
    return f"missing fields ranked by: {found[0]['ranker']['reason']}" if found else ""
