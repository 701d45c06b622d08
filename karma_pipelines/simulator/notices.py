"""The events around a deploy that tell what is happening: request, result, validation."""

from __future__ import annotations

import numpy as np

from karma_pipelines.simulator.catalog import missing_fields, unused_fields
from karma_pipelines.simulator.changes import Proposal
from karma_pipelines.simulator.events import EventLog
from karma_pipelines.simulator.risk import BIG_CHANGE_FIELDS, MANY_DEPENDENTS
from karma_pipelines.simulator.world import Component


def request(
    log: EventLog, t: int, c: Component, change_id: str, prop: Proposal, user: str, source: str
) -> None:
    attrs = {"component": c.key, "environment": c.env, "proposed_change": prop.change,
             "requested_by": user, "message": prop.message}  # fmt: skip
    log.emit(t, "change.requested", c, change_id, attrs, source)


def result(
    log: EventLog, t: int, c: Component, change_id: str, prop: Proposal, affected: list[str],
    status: str, source: str,
) -> None:  # fmt: skip
    """Karma's change result. Its warnings never name a config mistake: finding those is the
    field suggester's job."""
    warnings = []
    if len(affected) >= MANY_DEPENDENTS:
        warnings.append(f"{len(affected)} downstream components will be invalidated")
    if prop.kind != "create" and len(prop.change) >= 2 * BIG_CHANGE_FIELDS:
        warnings.append(f"large change: {len(prop.change)} fields")
    attrs = {"status": status, "affected_components": affected, "warnings": warnings}
    log.emit(t, "change.result", c, change_id, attrs, source)


def validate(
    log: EventLog, rng: np.random.Generator, t: int, c: Component, deploy_id: str,
    change_id: str, config: dict, action: str, source: str,
) -> None:  # fmt: skip
    """Sometimes a `validation.failed`: likelier for a config with mistakes, or a first deploy."""
    missing, unused = missing_fields(c.type, config), unused_fields(c.type, config)
    p = 0.01 + (0.4 if missing else 0) + (0.15 if unused else 0) + (0.1 if action == "create" else 0)
    if rng.random() >= p:
        return
    if missing:
        check, message = "required_fields", "terraform plan: a required input variable is not set"
    elif unused:
        check, message = "unknown_fields", "config sets keys that the module does not declare"
    elif action == "create":
        check, message = "schema", "config does not match the component schema"
    else:
        check, message = "plan", "terraform plan exited with errors"
    attrs = {"deploy_id": deploy_id, "check": check, "message": message}
    log.emit(t + int(rng.integers(5, 60)), "validation.failed", c, change_id, attrs, source)
