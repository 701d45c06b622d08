"""The one promotion gate in Dagster, the same for every model: a blocking check that reports the
decision the library recorded in the registry, and a champion asset that applies it."""

import dagster as dg

from karma_pipelines.defs.metadata import numbers
from karma_pipelines.defs.resources import MlflowResource
from karma_pipelines.tracking.gate import Tracked
from karma_pipelines.tracking.registry import CHAMPION, recorded_decision, settle_champion


def gated(model_asset: dg.AssetsDefinition, shown: list[str], meta: dict):
    """(`check_<model>_challenger`, `<model>_champion`) for a model asset whose output is a registry
    pointer `{"name", "version", "run_id", ...}` and whose version carries the gate's decision."""
    model = model_asset.key.to_user_string()

    @dg.asset_check(
        asset=model_asset,
        name=f"check_{model}_challenger",
        blocking=True,
        description=f"The challenger is at least as good as the champion on the same holdout, by the "
        f"promotion gate of its spec (the decision recorded on the version). Blocks `{model}_champion`.",
    )
    def check(context: dg.AssetCheckExecutionContext, mlflow_store: MlflowResource) -> dg.AssetCheckResult:
        pointer = _pointer(context, model)
        decision = recorded_decision(mlflow_store.target().client(), pointer["name"], pointer["version"])
        metadata = {"decision": "promote" if decision.promote else "keep", "reason": decision.reason}
        metadata.update(numbers({k: v for k, v in decision.challenger.items() if k in shown}, "challenger_"))
        if decision.champion:
            metadata.update(numbers({k: v for k, v in decision.champion.items() if k in shown}, "champion_"))
        # Losing to the champion is an expected outcome, not an incident: a WARN lets the run go on and
        # the champion asset keeps the champion (the registry refuses to promote a version that lost).
        severity = dg.AssetCheckSeverity.ERROR if decision.promote else dg.AssetCheckSeverity.WARN
        return dg.AssetCheckResult(passed=decision.promote, severity=severity, metadata=metadata)

    @dg.asset(
        name=f"{model}_champion",
        ins={"challenger": dg.AssetIn(model_asset.key)},
        kinds={"mlflow"},
        description=f"The `champion` alias of `{model}` after the gate: moved to the challenger when "
        "it won, kept otherwise.",
        **meta,
    )
    def champion(mlflow_store: MlflowResource, challenger: dict) -> dg.Output[dict]:
        pointer = challenger
        client = mlflow_store.target().client()
        version, moved, reason = settle_champion(client, pointer["name"], pointer["version"])
        params = client.get_run(client.get_model_version(pointer["name"], version).run_id).data.params
        return dg.Output(
            {
                "name": pointer["name"],
                "version": version,
                "alias": CHAMPION,
                "challenger": pointer["version"],
                "params": params,
            },
            metadata={
                "version": int(version),
                "promoted": moved,
                "challenger_version": int(pointer["version"]),
                "reason": reason,
                "model_uri": f"models:/{pointer['name']}@{CHAMPION}",
            },
        )

    return check, champion


def challenger_metadata(tracked: Tracked) -> dict:
    """What every model asset says of the version it registered and the gate's decision on it (the
    check reads `registered_model` and `version` back)."""
    reg, decision = tracked.registered, tracked.decision
    registration = (
        f"unchanged: version {reg.version} was made from the same data and code, nothing registered"
        if reg.unchanged
        else f"new version {reg.version}"
    )
    return {
        "registration": registration,
        "registered_model": reg.name,
        "version": int(reg.version),
        "alias": "challenger",
        "decision": "promote" if decision.promote else "keep",
        "reason": decision.reason,
        "mlflow_run": dg.MetadataValue.url(reg.run_url),
        "mlflow_model": dg.MetadataValue.url(reg.model_url),
        "model_uri": reg.model_uri,
    }


def _pointer(context: dg.AssetCheckExecutionContext, model: str) -> dict:
    event = context.instance.get_latest_materialization_event(dg.AssetKey(model))
    meta = event.asset_materialization.metadata
    return {"name": meta["registered_model"].value, "version": str(meta["version"].value)}
