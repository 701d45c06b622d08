"""The baseline: conditional frequency and association rules. A field's score is its best confidence:
P(field | type) or P(field | s) for a field s the config sets (rules need `min_rule_support` configs)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def baseline_scores(features: pd.DataFrame) -> np.ndarray:
    """max(P(f | type), max_s P(f | s)) from the same leave-one-out counts the model reads."""
    type_rate = features["type_rate"].fillna(0.0).to_numpy(dtype=np.float64)
    rules = features["assoc_max"].fillna(0.0).to_numpy(dtype=np.float64)
    return np.maximum(type_rate, rules)
