"""Run the whole pipeline on the persistent Dagster instance and summarise what it produced."""

from pathlib import Path

import dagster as dg

from karma_pipelines.defs.automation import range_tags
from karma_pipelines.defs.extract import karma_source_batches
from karma_pipelines.defs.resources import KarmaSourceResource, MlflowResource
from karma_pipelines.sources.git.layout import DEFAULT_LAYOUT
from karma_pipelines.sources.open import parse_source_spec

SUMMARY_ASSETS = {
    "source_records": ["event_lines", "unparseable_lines", "redelivered_lines"],
    "quarantined_records": ["dagster/row_count"],
    "deploy_records": [
        "dagster/row_count",
        "labelled",
        "rolled_back",
        "rollback_rate",
        "components",
        "commits",
        "new_commits",
    ],
    "rollback_features": ["dagster/row_count", "features"],
    "config_field_suggester": ["optional_hit_at_5", "optional_mrr", "unused_f1", "version", "decision"],
    "config_field_suggestions": ["components", "missing", "unused"],
    "rollback_forecaster": [
        "test_roc_auc",
        "test_pr_auc",
        "test_base_rate",
        "test_brier",
        "test_capture_at_10",
        "oracle_roc_auc",
        "oracle_capture_at_10",
        "registered_model",
        "version",
        "capture_at_10_vs_logistic",
        "mlflow_run",
    ],
}


def parse_source(
    spec: str, home: Path, layout: str = DEFAULT_LAYOUT, ref: str | None = None
) -> KarmaSourceResource:
    """`simulator` (default world under <home>/world), `events:/path/to/world` or `git:/path/to/repo`."""
    kind, path = parse_source_spec(spec, home)
    return KarmaSourceResource(
        kind=kind, path=path, layout=layout, ref=ref, state_dir=str(home / "git_state")
    )


def execute_all(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    source: KarmaSourceResource,
    run_config: dict | None = None,
    raise_on_error: bool = True,
    asset_selection: list[dg.AssetKey] | None = None,
) -> dg.ExecuteInProcessResult:
    """Materialize every asset of `defs` (or `asset_selection`) in one run: every batch of the source
    (event-log day files, the Git ref's commit) is registered as a partition and the ingest job covers
    them all."""
    reader = source.source()
    reader.describe()  # a simulated world is written here on first use, so its batches are known
    keys = list(reader.batch_keys())
    known = set(instance.get_dynamic_partitions(karma_source_batches.name))
    instance.add_dynamic_partitions(karma_source_batches.name, [k for k in keys if k not in known])
    partitions = instance.get_dynamic_partitions(karma_source_batches.name)
    job, tags = defs.resolve_job_def("karma_ingest_job"), range_tags(partitions)
    return job.execute_in_process(
        instance=instance,
        run_config=run_config,
        tags=tags,
        raise_on_error=raise_on_error,
        asset_selection=asset_selection,
    )


def run_pipeline(source: KarmaSourceResource, home: Path) -> dict:
    """Materialize every asset (checks included) with the DAGSTER_HOME instance; return a summary."""
    from karma_pipelines.definitions import build_definitions

    defs = build_definitions(source=source, mlflow_store=MlflowResource(home=str(home)))
    instance = dg.DagsterInstance.get()
    logs = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
    result = execute_all(defs, instance, source, run_config=logs, raise_on_error=False)
    summary: dict = {"dagster_run_id": result.run_id, "success": result.success, "assets": {}}
    for asset, keys in SUMMARY_ASSETS.items():
        event = instance.get_latest_materialization_event(dg.AssetKey(asset))
        meta = event.asset_materialization.metadata if event and event.asset_materialization else {}
        summary["assets"][asset] = {k: meta[k].value for k in keys if k in meta}
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    summary["checks"] = {name: e.passed for name, e in checks.items()}
    gate = checks.get("check_rollback_forecaster_challenger")
    summary["promotion"] = {
        "promoted": bool(gate and gate.passed),
        "reason": gate.metadata["reason"].value if gate and "reason" in gate.metadata else "not evaluated",
    }
    return summary


def format_summary(summary: dict, home: Path) -> str:
    a = summary["assets"]
    ev, q, dr = a["source_records"], a["quarantined_records"], a["deploy_records"]
    feats, model = a["rollback_features"], a["rollback_forecaster"]

    sug, sugs = a.get("config_field_suggester", {}), a.get("config_field_suggestions", {})

    def m(key: str) -> float:
        return float(model.get(key, float("nan")))

    def sg(key: str) -> float:
        return float(sug.get(key, float("nan")))

    lines = [
        f"Dagster run {summary['dagster_run_id']}: {'succeeded' if summary['success'] else 'FAILED'}",
        f"  events extracted      {ev.get('event_lines')}"
        + (
            f"  (Git: {dr['commits']} commits, {dr.get('new_commits', 0)} new)"
            if dr.get("new_commits")
            else ""
        ),
        f"  quarantined records   {q.get('dagster/row_count')}",
        f"  deploy records        {dr.get('dagster/row_count')} ({dr.get('labelled')} labelled, "
        f"{dr.get('rolled_back')} rolled back, rate {dr.get('rollback_rate', 0):.3f})",
        f"  features              {feats.get('features')} per deploy, {feats.get('dagster/row_count')} rows",
        f"  rollback forecaster   ROC-AUC {m('test_roc_auc'):.3f}  PR-AUC {m('test_pr_auc'):.3f} "
        f"(base rate {m('test_base_rate'):.3f})  Brier {m('test_brier'):.4f}  "
        f"capture@10% {m('test_capture_at_10'):.3f}",
        *(
            [
                f"  oracle (true p)       ROC-AUC {m('oracle_roc_auc'):.3f}  "
                f"capture@10% {m('oracle_capture_at_10'):.3f}  (same test deploys)"
            ]
            if "oracle_roc_auc" in model
            else []
        ),
        f"  registered            {model.get('registered_model')} version {model.get('version')}, "
        f"alias {'champion' if summary['promotion']['promoted'] else 'challenger (champion kept)'} "
        f"({summary['promotion']['reason']})",
        f"  baselines             capture@10% {m('capture_at_10_vs_logistic'):.2f}x logistic regression",
        f"  field suggester       optional-field Hit@5 {sg('optional_hit_at_5'):.3f}  MRR "
        f"{sg('optional_mrr'):.3f}  unused-field F1 {sg('unused_f1'):.3f}  (version {sug.get('version')}, "
        f"{sug.get('decision')}); {sugs.get('missing')} missing and {sugs.get('unused')} unused fields "
        f"suggested over {sugs.get('components')} components",
        f"  asset checks          {sum(summary['checks'].values())}/{len(summary['checks'])} passed",
        f"  MLflow run            {model.get('mlflow_run')}",
        "",
        "Open the UIs:  make ui   (Dagster http://127.0.0.1:3000, MLflow http://127.0.0.1:5000)",
        f"Stores:        DAGSTER_HOME={home / 'dagster'}  MLflow sqlite:///{home / 'mlflow.db'}",
    ]
    return "\n".join(lines)
