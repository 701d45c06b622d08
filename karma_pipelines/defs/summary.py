"""The summary of one `run`: what THIS run materialized and checked, and the registry after it."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from karma_pipelines.pipeline.backtest import labelled_counts

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
    "config_field_suggester": [
        "optional_hit_at_5",
        "optional_mrr",
        "unused_f1",
        "version",
        "decision",
        "registration",
    ],
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
        "registration",
    ],
}


CHECKED_MODELS = ("karma-rollback-forecaster", "karma-config-field-suggester")


def summarize(result: dg.ExecuteInProcessResult, home: Path) -> dict:
    materialized = {}
    for event in result.get_asset_materialization_events():
        materialized[event.asset_key.to_user_string()] = event.step_materialization_data.materialization
    summary: dict = {"dagster_run_id": result.run_id, "success": result.success, "assets": {}}
    for asset, keys in SUMMARY_ASSETS.items():
        mat = materialized.get(asset)
        meta = mat.metadata if mat is not None else {}
        summary["assets"][asset] = {k: meta[k].value for k in keys if k in meta}
    planned = {e.asset_key.to_user_string() for e in result.get_asset_materialization_planned_events()}
    planned |= {key.to_user_string() for key in result.job_def.asset_layer.selected_asset_keys}
    summary["not_materialized"] = sorted(planned - set(materialized))
    summary["failed_steps"] = {
        e.step_key: error_reason(e.step_failure_data.error) for e in result.get_step_failure_events()
    }
    summary["skipped_steps"] = sorted(e.step_key for e in result.get_step_skipped_events())
    evaluations = result.get_asset_check_evaluations()
    checks = {e.check_name: e for e in evaluations}
    summary["checks"] = {name: e.passed for name, e in checks.items()}
    summary["failed_checks"] = {
        name: {"severity": e.severity.value, "reason": check_reason(e)}
        for name, e in checks.items()
        if not e.passed
    }
    gate = checks.get("check_rollback_forecaster_challenger")
    summary["promotion"] = {
        "promoted": bool(gate and gate.passed),
        "reason": gate.metadata["reason"].value if gate and "reason" in gate.metadata else "not evaluated",
    }
    summary["aliases"] = registry_aliases(home)
    try:
        summary["labelled_ordinary"] = labelled_counts(result.asset_value("deploy_records"))
    except Exception:  # noqa: BLE001 - deploy_records was not materialized in this run
        summary["labelled_ordinary"] = None
    # An error-severity check that failed is a failure even when Dagster counts the run a success; a
    # challenger that lost to the champion (a WARN) is an expected outcome and does not fail the run.
    failed_errors = [n for n, c in summary["failed_checks"].items() if c["severity"] == "ERROR"]
    summary["success"] = bool(result.success and not failed_errors and not summary["failed_steps"])
    return summary


def registry_aliases(home: Path) -> dict[str, dict[str, str | None]]:
    """What the MLflow registry says now: each model's champion and challenger versions."""
    from karma_pipelines.tracking.registry import CHALLENGER, CHAMPION, version_by_alias
    from karma_pipelines.tracking.store import MlflowTarget

    client = MlflowTarget.for_home(home).client()
    out = {}
    for name in CHECKED_MODELS:
        found = {a: version_by_alias(client, name, a) for a in (CHAMPION, CHALLENGER)}
        out[name] = {a: (str(v.version) if v is not None else None) for a, v in found.items()}
    return out


def check_reason(evaluation) -> str:
    if "reason" in evaluation.metadata:
        return _first_line(str(evaluation.metadata["reason"].value))
    if evaluation.description:
        return _first_line(evaluation.description)
    shown = [
        f"{k} {v.value}" for k, v in evaluation.metadata.items() if isinstance(v.value, int | float | str)
    ]
    return "; ".join(shown[:4]) or "no reason given"


def error_reason(error) -> str:
    """The innermost cause of a step's error, one line (`ValueError: the split at …`)."""
    if error is None:
        return "no error recorded (see the Dagster UI)"
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return _first_line(error.message)


def _first_line(text: str) -> str:
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


def _alias_line(summary: dict, name: str, version) -> str:
    """`version 3 (challenger; champion is version 2)`: what the registry says, never a guess."""
    aliases = summary.get("aliases", {}).get(name)
    if aliases is None:
        return f"version {version}"
    held = [a for a, v in aliases.items() if v is not None and str(v) == str(version)]
    champion = aliases.get("champion")
    text = f"version {version}" + (f" (alias {', '.join(held)})" if held else " (no alias)")
    if "champion" not in held:
        text += f"; champion is version {champion}" if champion else "; there is no champion"
    return text


def _unchanged(asset: dict) -> bool:
    return str(asset.get("registration", "")).startswith("unchanged")


def format_summary(summary: dict, home: Path) -> str:
    a = summary["assets"]
    ev, q, dr = a["source_records"], a["quarantined_records"], a["deploy_records"]
    feats, model = a["rollback_features"], a["rollback_forecaster"]

    sug, sugs = a.get("config_field_suggester", {}), a.get("config_field_suggestions", {})

    def m(key: str) -> float:
        return float(model.get(key, float("nan")))

    def sg(key: str) -> float:
        return float(sug.get(key, float("nan")))

    labelled = summary.get("labelled_ordinary")
    if labelled:
        deploys = (
            f"  deploy records        {dr.get('dagster/row_count')} ({labelled['labelled']} ordinary deploys "
            f"labelled, {labelled['rolled_back']} rolled back, rate {labelled['rollback_rate']:.3f}; "
            "rollback deploys not counted)"
        )
    else:
        deploys = f"  deploy records        {dr.get('dagster/row_count', 'not materialized in this run')}"
    forecaster_name = model.get("registered_model", "karma-rollback-forecaster")
    lines = [
        f"Dagster run {summary['dagster_run_id']}: {'succeeded' if summary['success'] else 'FAILED'}",
        f"  events extracted      {ev.get('event_lines')}"
        + (
            f"  (Git: {dr['commits']} commits, {dr.get('new_commits', 0)} new)"
            if dr.get("new_commits")
            else ""
        ),
        f"  quarantined records   {q.get('dagster/row_count')}",
        deploys,
        f"  features              {feats.get('features')} per deploy, {feats.get('dagster/row_count')} rows",
    ]
    if model:
        lines += [
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
            f"  registered            {forecaster_name} "
            f"{_alias_line(summary, forecaster_name, model.get('version'))}"
            f" (gate: {summary['promotion']['reason']})",
            *([f"  registration          {model['registration']}"] if _unchanged(model) else []),
            f"  baselines             capture@10% {m('capture_at_10_vs_logistic'):.2f}x logistic regression",
        ]
    else:
        lines.append("  rollback forecaster   not trained in this run (see the failures below)")
    if sug:
        lines.append(
            f"  field suggester       optional-field Hit@5 {sg('optional_hit_at_5'):.3f}  MRR "
            f"{sg('optional_mrr'):.3f}  unused-field F1 {sg('unused_f1'):.3f}  "
            f"(karma-config-field-suggester "
            f"{_alias_line(summary, 'karma-config-field-suggester', sug.get('version'))}, "
            f"{sug.get('decision')}); {sugs.get('missing')} missing and {sugs.get('unused')} unused fields "
            f"suggested over {sugs.get('components')} components"
        )
        if _unchanged(sug):
            lines.append(f"  registration          {sug['registration']}")
    checks, failed = summary["checks"], summary.get("failed_checks", {})
    lines.append(f"  asset checks          {sum(checks.values())}/{len(checks)} passed")
    for name, check in failed.items():
        kind = "failed" if check["severity"] == "ERROR" else "warned"
        lines.append(f"    {kind} {name}: {check['reason']}")
    for step, reason in summary.get("failed_steps", {}).items():
        lines.append(f"  step failed           {step}: {reason}")
    if summary.get("skipped_steps"):
        lines.append(f"  steps skipped         {', '.join(summary['skipped_steps'])}")
    if summary.get("not_materialized"):
        lines.append(f"  not materialized      {', '.join(summary['not_materialized'])}")
    lines += [
        f"  MLflow run            {model.get('mlflow_run', 'none in this run')}",
        "",
        "Open the UIs:  make ui   (Dagster http://127.0.0.1:3000, MLflow http://127.0.0.1:5000)",
        _stores_line(summary, home),
    ]
    return "\n".join(lines)


def _stores_line(summary: dict, home: Path) -> str:
    """Where this run's stores are: the local ones, or the prod profile's servers."""
    profile = summary.get("profile") or {}
    local = profile.get("profile", "local") == "local"
    if local and profile.get("mlflow_tracking_uri", "sqlite") == "sqlite":
        return f"Stores:        DAGSTER_HOME={home / 'dagster'}  MLflow sqlite:///{home / 'mlflow.db'}"
    return (
        f"Stores:        profile {profile['profile']}: Dagster {profile['dagster_storage']} "
        f"({profile['executor']} executor)  MLflow {profile['mlflow_tracking_uri']}  "
        f"LightGBM {profile['trainer']}"
    )
