"""The config-field suggester: trained on the corpus of configs, gated like the forecaster, and its
suggestions for every component."""

import dagster as dg
import pandas as pd

from karma_pipelines.defs.gate import challenger_metadata, gated
from karma_pipelines.defs.metadata import markdown_table, numbers, records_table, table_metadata
from karma_pipelines.defs.models import dagster_tags
from karma_pipelines.defs.resources import KarmaSourceResource, MlflowResource
from karma_pipelines.sources.base import World
from karma_pipelines.suggester import (
    corpus_from_snapshots,
    load_suggester_spec,
    read_code_evidence,
    suggest,
    train_suggester,
)
from karma_pipelines.suggester.evaluation import load_mistakes, planted_metrics
from karma_pipelines.suggester.tracking import track_suggester
from karma_pipelines.tracking.lightgbm_runs import load_booster
from karma_pipelines.tracking.registry import CHAMPION

META = {"group_name": "models", "code_version": "1", "owners": ["team:ml-platform"]}


def _code(karma_source: KarmaSourceResource):
    return read_code_evidence(karma_source.iac_path) if karma_source.iac_path else None


def code_metadata(code, corpus) -> dict:
    """What the code evidence found per type, and every part of a `.tf` file python-hcl2 rejected
    (file, line, block, the parser's message, what was read of it)."""
    if code is None:
        return {}
    from karma_pipelines.suggester.code_report import type_report

    report = type_report(code, set(corpus.configs["component_type"]))
    rows = [
        {"component_type": t, "folders": ", ".join(r["folders"]), "files_parsed": r.get("files_parsed", 0),
         "files_failed": len(r.get("files_failed", [])), "fields_read": len(r.get("fields_read", [])),
         "config_roots": ", ".join(x["name"] for x in r["config_roots"]) or r.get("why_no_code_evidence", "")}
        for t, r in report.items()
    ]  # fmt: skip
    failures = pd.DataFrame(
        [f.as_dict() for f in code.failures], columns=["file", "line", "block", "message", "outcome"]
    )
    return {
        "code_evidence_types": markdown_table(pd.DataFrame(rows), max_rows=60),
        "code_types_with_config_root": sum(1 for r in report.values() if r["config_roots"]),
        "code_parse_failures": markdown_table(failures, max_rows=40) if len(failures) else "none",
    }


@dg.asset(kinds={"lightgbm", "mlflow"}, **META)
def config_field_suggester(
    context: dg.AssetExecutionContext,
    config_snapshots: pd.DataFrame,
    karma_world: World,
    karma_source: KarmaSourceResource,
    mlflow_store: MlflowResource,
) -> dg.Output[dict]:
    """Self-supervised LightGBM on the latest config of every component (field names only): held-out
    components, masked-field recovery and unused-field detection beside the association-rule
    baseline; logged to MLflow and registered as `challenger` (the champion is re-scored on the
    same held-out cases for the gate)."""
    spec = load_suggester_spec()
    corpus = corpus_from_snapshots(config_snapshots)
    code = _code(karma_source)
    run = train_suggester(corpus, spec, code)
    world = karma_world
    planted = None
    if world.truth_dir is not None and (world.truth_dir / "config_mistakes.csv").exists():
        planted = planted_metrics(
            run.booster, corpus, load_mistakes(world.root), spec, code, run.unused_threshold,
            run.baseline_threshold,
        )  # fmt: skip
    tags = dagster_tags(context, META["code_version"], world)
    extra = {f"planted_{k}": v for k, v in (planted or {}).items()}
    tracked = track_suggester(
        mlflow_store.target(), run, tags, str(world.root.resolve()), extra_metrics=extra
    )
    reg = tracked.registered
    flat = run.gate_metrics
    metadata = {
        **numbers(flat),
        "configs": len(corpus),
        "test_components": len(run.test_components),
        "code_evidence": code is not None,
        "unused_threshold": float(run.unused_threshold),
        **challenger_metadata(tracked),
        "model_vs_baseline": markdown_table(_side_by_side(run)),
        **code_metadata(code, corpus),
    }
    if planted:
        metadata["planted_mistakes"] = markdown_table(pd.DataFrame(planted).T.reset_index(names="kind"))
    pointer = {
        "name": reg.name,
        "version": reg.version,
        "run_id": reg.run_id,
        "run_url": reg.run_url,
        "unused_threshold": float(run.unused_threshold),
        "metrics": flat,
    }
    return dg.Output(pointer, metadata=metadata)


def _side_by_side(run) -> pd.DataFrame:
    rows = []
    for group, values in run.metrics.items():
        for metric, value in (values or {}).items():
            base = (run.baseline_metrics.get(group) or {}).get(metric)
            rows.append({"evaluation": group, "metric": metric, "model": value, "baseline": base})
    return pd.DataFrame(rows)


check_config_field_suggester_challenger, config_field_suggester_champion = gated(
    config_field_suggester, ["optional_hit_at_5", "optional_mrr", "unused_f1"], META
)


@dg.asset(kinds={"lightgbm", "pandas"}, **META)
def config_field_suggestions(
    config_field_suggester_champion: dict,
    config_snapshots: pd.DataFrame,
    karma_source: KarmaSourceResource,
    mlflow_store: MlflowResource,
) -> dg.Output[pd.DataFrame]:
    """For every component: the champion's top missing and unused fields, with score and reason."""
    pointer = config_field_suggester_champion
    booster = load_booster(mlflow_store.target(), pointer["name"], CHAMPION)
    corpus = corpus_from_snapshots(config_snapshots)
    code = _code(karma_source)
    found = suggest(
        booster, corpus, top=5, code=code, spec=load_suggester_spec(),
        unused_threshold=float(pointer["params"]["suggester.unused_threshold"]),
    )  # fmt: skip
    table = suggestions_table(found)
    per_type = (
        table.assign(component_type=table["component"].str.split("/").str[0])
        .groupby(["component_type", "kind"])
        .size()
        .unstack(fill_value=0)
        .reset_index()
        if len(table)
        else pd.DataFrame()
    )
    return dg.Output(
        table,
        metadata={
            **table_metadata(table, preview_rows=0),
            "components": len(found),
            "missing": int((table["kind"] == "missing").sum()) if len(table) else 0,
            "unused": int((table["kind"] == "unused").sum()) if len(table) else 0,
            "per_type": records_table(per_type, 40),
            **code_metadata(code, corpus),
            "top_suggestions": records_table(  # the preview: the strongest suggestions first
                table.sort_values("score", ascending=False).head(25), max_chars=120
            ),
        },
    )


def suggestions_table(found: list[dict]) -> pd.DataFrame:
    rows = [
        {"component": item["component"], "kind": kind, **s}
        for item in found
        for kind in ("missing", "unused")
        for s in item[kind]
    ]
    return pd.DataFrame(rows, columns=["component", "kind", "field", "score", "reason"])
