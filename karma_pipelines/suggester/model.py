"""The suggester model: LightGBM trained self-supervised on the corpus (rows: `labelled_queries`),
its scores lifted or pressed by code evidence, the unused-field threshold, and the ranker of missing
fields chosen by cross-validation on the corpus (`ranker.py`: the model, the baseline or a blend)."""

from __future__ import annotations

from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd

from karma_pipelines.suggester.baseline import baseline_scores
from karma_pipelines.suggester.code_evidence import CodeEvidence
from karma_pipelines.suggester.corpus import Corpus
from karma_pipelines.suggester.corruption import corrupt_twins
from karma_pipelines.suggester.labelled_queries import fit_corpus_stats, query_frame, trainable
from karma_pipelines.suggester.ranker import Ranker, choose_ranker
from karma_pipelines.suggester.spec import SuggesterSpec
from karma_pipelines.suggester.stats import encode


def _dataset(frame: pd.DataFrame, spec: SuggesterSpec, reference: lgb.Dataset | None = None) -> lgb.Dataset:
    return lgb.Dataset(
        frame[spec.features], label=frame["label"].to_numpy(), reference=reference, free_raw_data=False
    )


def predict(booster: lgb.Booster, frame: pd.DataFrame) -> np.ndarray:
    names = booster.feature_name()
    return booster.predict(frame[names], num_iteration=booster.best_iteration or None)


def missing_scores(p: np.ndarray, frame: pd.DataFrame, spec: SuggesterSpec) -> np.ndarray:
    """Score of an absent field being missing: the model's probability; lifted into [code_floor, 1]
    when the type's Terraform reads it without a default (for an entry of a user-named map, only when
    the entry exists), halved when no Terraform of the type reads it. Order within each band is kept."""
    p = np.asarray(p, dtype=np.float64)
    code = frame["code_available"].to_numpy() == 1
    read, required = frame["code_read"].to_numpy(), frame["code_required"].to_numpy() == 1
    in_scope = (frame["is_map_child"].to_numpy() != 1) | (frame["instance_in_context"].to_numpy() == 1)
    score = np.where(code & (read == 0), 0.5 * p, p)
    floor = spec.code_floor
    return np.where(code & required & in_scope, floor + (1.0 - floor) * p, score)


def unused_scores(p: np.ndarray, frame: pd.DataFrame, spec: SuggesterSpec) -> np.ndarray:
    """Score of a set field being unused: 1 - the model's probability; lifted into [code_floor, 1] when
    no Terraform of the type reads it, pressed into [0, 1 - code_floor] when one reads that very path
    (a field only inside a subtree used whole, like an environment variable, keeps the model's score)."""
    score = 1.0 - np.asarray(p, dtype=np.float64)
    code = frame["code_available"].to_numpy() == 1
    read = frame["code_read"].to_numpy()
    floor = spec.code_floor
    score = np.where(code & (read == 0), floor + (1.0 - floor) * score, score)
    return np.where(code & (read == 1), (1.0 - floor) * score, score)


def best_f1_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The threshold (midpoint between two distinct scores) with the best F1 of `scores >= threshold`,
    from sklearn's precision-recall curve; of equal F1s, the highest threshold."""
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(labels, scores)
    precision, recall = precision[:-1], recall[:-1]  # the curve's last point has no threshold
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    best = thresholds[len(f1) - 1 - int(np.argmax(f1[::-1]))]
    distinct = np.unique(scores)
    at = int(np.searchsorted(distinct, best))
    below = distinct[at - 1] if at > 0 else 0.0
    return float((best + below) / 2.0)


@dataclass
class FittedSuggester:
    """A booster and its unused-field thresholds (the model's and the baseline's)."""

    booster: lgb.Booster
    spec: SuggesterSpec
    unused_threshold: float
    baseline_threshold: float
    train_frame: pd.DataFrame
    valid_frame: pd.DataFrame
    importance: pd.DataFrame
    validation_metrics: dict[str, float] = field(default_factory=dict)
    ranker: Ranker = field(default_factory=Ranker)  # missing fields: model, baseline or a blend

    @property
    def best_iteration(self) -> int:
        return int(self.booster.best_iteration or self.booster.current_iteration())


def _split_keys(corpus: Corpus, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A random share of components (by component key, so one component is never on both sides)."""
    components = np.array(sorted(set(corpus.configs["component"])))
    n = int(round(fraction * len(components)))
    chosen = set(components[rng.permutation(len(components))[:n]]) if n else set()
    return corpus.configs["component"].isin(chosen).to_numpy()


def fit_suggester(corpus: Corpus, spec: SuggesterSpec, code: CodeEvidence | None = None) -> FittedSuggester:
    """Train on `corpus` (statistics of the whole corpus, leave-one-out; early stopping and the unused
    threshold on a share of its components)."""
    rng = np.random.default_rng(spec.seed)
    corruption = corrupt_twins(corpus, spec.twin_removals, spec.twin_additions, rng)
    stats = fit_corpus_stats(corruption.corpus, spec)
    rows = np.arange(len(corpus))
    if len(rows) > spec.max_train_configs:
        rows = np.sort(rng.choice(rows, spec.max_train_configs, replace=False))
    frame = query_frame(stats, stats.encoded, rows, spec, code, rng, corruption=corruption).frame
    valid_mask = _split_keys(corpus, spec.validation_fraction, rng)[frame["row"].to_numpy()]
    fit, valid = frame[~valid_mask], frame[valid_mask]
    fit = fit[trainable(fit)]
    if fit["label"].nunique() < 2:
        raise ValueError("the corpus is too small to train the suggester: need configs with fields in common")
    train_set = _dataset(fit, spec)
    callbacks, valid_sets = [], []
    if len(valid) and valid["label"].nunique() == 2:
        valid_sets = [_dataset(valid[trainable(valid)], spec, reference=train_set)]
        callbacks = [lgb.early_stopping(spec.early_stopping_rounds, first_metric_only=True, verbose=False)]
    booster = lgb.train(
        spec.params, train_set, num_boost_round=spec.num_boost_round, valid_sets=valid_sets,
        valid_names=["validation"][: len(valid_sets)], callbacks=callbacks,
    )  # fmt: skip
    tuning = valid if len(valid) else fit
    unused_rows = tuning[tuning["is_set"] == 1]
    labels = (unused_rows["label"] == 0).to_numpy()
    # The threshold is the model's (tuned on 1 - p, before code evidence), kept inside the band code
    # evidence leaves to the model: a field no Terraform reads is always flagged, one read never.
    model_unused = 1.0 - predict(booster, unused_rows)
    base_unused = 1.0 - baseline_scores(unused_rows)
    tuned = best_f1_threshold(model_unused, labels) if labels.any() else 0.5
    low, high = 1.0 - spec.code_floor, spec.code_floor
    threshold = spec.unused_threshold or float(np.clip(tuned, low + 1e-6, high))
    base_threshold = best_f1_threshold(base_unused, labels) if labels.any() else 0.5
    importance = pd.DataFrame(
        {
            "feature": booster.feature_name(),
            "gain": booster.feature_importance("gain"),
            "splits": booster.feature_importance("split"),
        }
    ).sort_values("gain", ascending=False, ignore_index=True)
    validation = {}
    if len(valid) and valid["label"].nunique() == 2:
        from sklearn.metrics import average_precision_score, roc_auc_score

        scores = predict(booster, valid)
        validation = {
            "roc_auc": float(roc_auc_score(valid["label"], scores)),
            "pr_auc": float(average_precision_score(valid["label"], scores)),
            "n": float(len(valid)),
        }
    rounds = int(booster.best_iteration or booster.current_iteration())
    learnable = frame[trainable(frame)]
    ranker = choose_ranker(learnable, corruption.corpus, stats, spec, code, rounds, rng)
    return FittedSuggester(
        booster, spec, float(threshold), float(base_threshold), fit, valid, importance, validation, ranker
    )


__all__ = ["FittedSuggester", "fit_suggester", "encode"]
