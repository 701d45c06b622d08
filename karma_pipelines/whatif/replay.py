"""The what-if engine judged against an event log's own record: every change request replayed as a
what-if just before it was made (its `proposed_change` as the patch), the predicted blast radius against
the `affected_components` Karma logged in its `change.result`; and, for deploys of the latest period,
the what-if risk against what happened (rolled back or not), beside the forecaster's own scores of the
same deploys."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, roc_auc_score

from karma_pipelines.features.for_deploys import features_for
from karma_pipelines.insights.common import attr, events_of
from karma_pipelines.whatif.change import ProposedChange
from karma_pipelines.whatif.impact import WhatIfEngine


def logged_changes(events: pd.DataFrame) -> pd.DataFrame:
    """One row per change request with a `change.result` that was not rejected: change_id, component,
    requested_at, patch (its `proposed_change`), affected (the logged `affected_components`)."""
    requests = events_of(events, "change.requested").drop_duplicates("correlation_id")
    results = events_of(events, "change.result").drop_duplicates("correlation_id")
    status = attr(results, "status").fillna("applied").astype(str)
    results = results.assign(status=status.to_numpy(), affected=attr(results, "affected_components"))
    results = results[
        (results["status"] != "rejected") & results["affected"].map(lambda a: isinstance(a, list))
    ]
    merged = requests.assign(patch=attr(requests, "proposed_change")).merge(
        results[["correlation_id", "affected"]], on="correlation_id"
    )
    merged = merged[merged["patch"].map(lambda p: isinstance(p, dict))]
    return (
        pd.DataFrame(
            {
                "change_id": merged["correlation_id"].astype(str),
                "component": merged["entity_id"].astype(str),
                "requested_at": merged["ts"],
                "patch": merged["patch"],
                "affected": merged["affected"].map(lambda a: sorted(map(str, a))),
            }
        )
        .sort_values(["requested_at", "change_id"], kind="stable")
        .reset_index(drop=True)
    )


def replay_invalidations(engine: WhatIfEngine, events: pd.DataFrame, limit: int | None = None) -> dict:
    """Precision and recall (over every (change, downstream component) pair) of the what-if blast
    radius against the logged `affected_components`, with per-change exact-match share and timing."""
    changes = logged_changes(events)
    if limit is not None and len(changes) > limit:
        changes = changes.iloc[np.linspace(0, len(changes) - 1, limit).astype(int)].reset_index(drop=True)
    times = list(changes["requested_at"])
    tp = fp = fn = exact = 0
    start = time.perf_counter()
    misses = []
    for (_, graph), row in zip(engine.graphs.states(times), changes.itertuples(), strict=True):
        change = ProposedChange(row.component, None, patch=row.patch)
        try:
            found = engine.analyse(change, at=row.requested_at, graph=graph.graph())
            predicted = {b["component"] for b in found.blast_radius}
        except ValueError:  # the component's config was quarantined: nothing known of it
            predicted = set()
        truth = set(row.affected)
        tp, fp, fn = tp + len(predicted & truth), fp + len(predicted - truth), fn + len(truth - predicted)
        exact += predicted == truth
        if predicted != truth and len(misses) < 10:
            misses.append({"change_id": row.change_id, "missed": sorted(truth - predicted),
                           "extra": sorted(predicted - truth)})  # fmt: skip
    seconds = time.perf_counter() - start
    n = len(changes)
    return {
        "changes": n,
        "with_invalidations": int(changes["affected"].map(bool).sum()),
        "pairs_logged": tp + fn,
        "pairs_predicted": tp + fp,
        "precision": tp / (tp + fp) if tp + fp else float("nan"),
        "recall": tp / (tp + fn) if tp + fn else float("nan"),
        "exact_share": exact / n if n else float("nan"),
        "seconds_per_change": seconds / n if n else float("nan"),
        "examples_wrong": misses,
    }


def replay_risk(
    engine: WhatIfEngine, events: pd.DataFrame, test_share: float = 0.2, limit: int = 150
) -> dict:
    """The what-if risk of the latest `test_share` of time's labelled deploys (replayed from their
    change requests, at their deploy time) against their outcome, beside the forecaster's own scores
    of the same deploys; and the time of one what-if call with risk."""
    if engine.forecaster is None:
        raise ValueError("replay_risk needs a forecaster")
    deploys = engine.deploys
    span = deploys["deployed_at"].agg(["min", "max"])
    cut = span["min"] + (span["max"] - span["min"]) * (1 - test_share)
    pool = deploys[
        (deploys["deployed_at"] >= cut) & deploys["labelled"] & ~deploys["is_rollback"]
        & deploys["action"].isin(["update", "promote"])
    ]  # fmt: skip
    patches = logged_changes(events).set_index("change_id")["patch"]
    pool = pool[pool["change_id"].isin(patches.index)]
    if len(pool) > limit:
        pool = pool.iloc[np.linspace(0, len(pool) - 1, limit).astype(int)]
    scores, seconds = [], []
    for row in pool.itertuples():
        change = ProposedChange(row.component, row.environment, patch=patches[row.change_id],
                                author=row.author, message=row.message)  # fmt: skip
        start = time.perf_counter()
        found = engine.analyse(change, at=row.deployed_at)
        seconds.append(time.perf_counter() - start)
        scores.append(found.risk["score"])
    labels = pool["rolled_back"].astype(bool).to_numpy()
    rows = features_for(deploys, engine.snapshots, set(pool["deploy_id"]))
    own = pd.Series(engine.forecaster.booster.predict(rows[engine.forecaster.booster.feature_name()]),
                    index=rows["deploy_id"]).reindex(pool["deploy_id"]).to_numpy()  # fmt: skip
    both = len(set(labels)) == 2
    return {
        "deploys": len(pool),
        "rolled_back": int(labels.sum()),
        "whatif_roc_auc": float(roc_auc_score(labels, scores)) if both else float("nan"),
        "forecaster_roc_auc": float(roc_auc_score(labels, own)) if both else float("nan"),
        "whatif_brier": float(brier_score_loss(labels, scores)),
        "forecaster_brier": float(brier_score_loss(labels, own)),
        "max_abs_score_difference": float(np.max(np.abs(np.asarray(scores) - own))) if len(own) else 0.0,
        "seconds_per_call_median": float(np.median(seconds)) if seconds else float("nan"),
        "seconds_per_call_max": float(np.max(seconds)) if seconds else float("nan"),
    }
