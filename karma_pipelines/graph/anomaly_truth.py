"""The anomaly detector judged against a simulated world's planted ground truth
(`ground_truth/graph_anomalies.csv`, `simulator.graph_plants`): precision and recall at the top k."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from karma_pipelines.simulator.graph_plants import PLANT_WEEKS, TRUTH_FILE

MATCH_WITHIN = pd.Timedelta(days=7)


def read_truth(world: Path | str) -> pd.DataFrame:
    path = Path(world) / "ground_truth" / TRUTH_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path}: no planted graph anomalies (simulate with graph_anomalies > 0)")
    truth = pd.read_csv(path, dtype=str)
    truth["deployed_at"] = pd.to_datetime(truth["deployed_at"], utc=True)
    return truth


def matches(finding, truth: pd.DataFrame) -> set[str]:
    """Plant ids a finding is about: the same component (and other end, when both name one), either
    way round, within MATCH_WITHIN of the planted deploy."""
    near = truth[(truth["deployed_at"] - pd.Timestamp(finding.since)).abs() <= MATCH_WITHIN]
    other = finding.other if isinstance(finding.other, str) else None
    same = (near["component"] == finding.component) & ((other is None) | (near["other"] == other))
    swapped = (near["other"] == finding.component) & (near["component"] == other)
    return set(near.loc[same | swapped, "plant_id"])


def precision_recall_at(found: pd.DataFrame, truth: pd.DataFrame, k: int = 20) -> dict:
    """Of the top k findings, the share about a plant (precision@k) and the share of plants that one of
    them is about (recall@k)."""
    top = found.head(k)
    hits = [matches(f, truth) for f in top.itertuples(index=False)]
    plants = set(truth["plant_id"])
    recalled = set().union(*hits) if hits else set()
    return {
        f"precision_at_{k}": round(sum(bool(h) for h in hits) / max(len(top), 1), 4),
        f"recall_at_{k}": round(len(recalled) / max(len(plants), 1), 4),
        "plants": len(plants),
        "findings": len(found),
    }


def evaluation_periods() -> int:
    """Periods (weeks) scored for the evaluation: the plants are made in the last PLANT_WEEKS weeks."""
    return PLANT_WEEKS + 1
