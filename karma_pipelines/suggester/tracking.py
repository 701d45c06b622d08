"""Track a suggester training in MLflow and gate its promotion to champion.

Uses the shared `log_and_register` (any spec with `name`, `registered_model_name`, `features`,
`target`, `params`, `promotion`, `log_params()`; frames keyed by `id_column`) and the one gate
(`tracking.gate.challenge_champion`); the champion step moves the alias. Only field NAMES reach
MLflow (query ids are `<component key>|<field>`).
"""

from __future__ import annotations

from karma_pipelines.suggester.run import ID_COLUMN, SuggesterRun
from karma_pipelines.tracking.gate import Tracked, challenge_champion
from karma_pipelines.tracking.lightgbm_runs import log_and_register
from karma_pipelines.tracking.store import MlflowTarget


def run_metrics(run: SuggesterRun) -> dict[str, dict[str, float]]:
    """`<prefix>_<metric>` groups as logged: model and baseline side by side."""
    out = {f"model_{k}": v for k, v in run.metrics.items() if v}
    out.update({f"baseline_{k}": v for k, v in run.baseline_metrics.items() if v})
    out["gate"] = run.gate_metrics
    return out


def track_suggester(
    target: MlflowTarget,
    run: SuggesterRun,
    tags: dict[str, str],
    dataset_source: str,
    extra_metrics: dict[str, dict[str, float]] | None = None,
    register: bool = True,
) -> Tracked:
    """Log the run (params, metrics of model and baseline, tables, datasets of query rows, the booster),
    register it as `challenger` and decide its promotion with the one gate (the champion is re-scored on
    the same masked cases, injected fields and held-out queries); the champion step moves the alias."""
    spec = run.spec
    registered = log_and_register(
        target,
        spec=spec,
        booster=run.booster,
        train_frame=run.train_frame,
        test_frame=run.test_frame,
        metrics={**run_metrics(run), **(extra_metrics or {})},
        tables=run.tables,
        tags={
            **tags,
            "model": spec.name,
            "suggester.code_evidence": "yes" if run.code is not None else "no",
            "suggester.test_components": str(len(run.test_components)),
        },
        dataset_source=dataset_source,
        register=register,
        id_column=ID_COLUMN,
        extra_params={
            "suggester.unused_threshold": f"{run.unused_threshold:.6g}",
            "suggester.baseline_threshold": f"{run.baseline_threshold:.6g}",
        },
    )
    if not register:
        return Tracked(registered, None)
    decision = challenge_champion(target, registered, spec.promotion, run.gate_metrics, run.score_booster)
    return Tracked(registered, decision)
