"""Unused-field detection: inject fields of other component types and misspelt names into held-out
configs; precision, recall and F1 at the suggester's threshold, ROC-AUC and average precision."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, precision_recall_fscore_support, roc_auc_score

from karma_pipelines.suggester.baseline import baseline_scores
from karma_pipelines.suggester.candidates import present_queries
from karma_pipelines.suggester.code_evidence import CodeEvidence
from karma_pipelines.suggester.corpus import Corpus
from karma_pipelines.suggester.eval_masked import _renamed
from karma_pipelines.suggester.labelled_queries import _frame, injected_queries
from karma_pipelines.suggester.model import unused_scores
from karma_pipelines.suggester.spec import SuggesterSpec
from karma_pipelines.suggester.stats import ROW_SHIFT, CorpusStats, _member, encode


@dataclass
class UnusedCases:
    frame: pd.DataFrame  # present fields of the injected test configs, label 1 = injected


def unused_cases(
    stats: CorpusStats,
    full: Corpus,
    test: Corpus,
    spec: SuggesterSpec,
    code: CodeEvidence | None,
    seed: int = 1,
) -> UnusedCases:
    """Test configs with injected fields (half of other types' fields, half misspellings): every field
    they then set is scored; the injected ones should come out unused."""
    rng = np.random.default_rng(seed + 1000)
    enc = encode(_renamed(test), stats.vocab)
    n_foreign = spec.injected_per_config // 2
    n_typos = spec.injected_per_config - n_foreign
    injected, kinds = injected_queries(
        stats, enc, np.arange(len(test)), n_foreign, n_typos, rng, min_other_support=spec.min_field_configs
    )
    extra: list[set[str]] = [set() for _ in range(len(test))]
    for row, fid in zip(injected.row, injected.fid, strict=True):
        extra[int(row)].add(stats.vocab.names[fid])
    modified = _renamed(test.with_fields([set(f) | e for f, e in zip(test.fields, extra, strict=True)]))
    menc = encode(modified, stats.vocab)
    q = present_queries(menc)
    inj = injected.row * ROW_SHIFT + injected.fid
    order = np.argsort(inj)
    inj, kinds = inj[order], np.asarray(kinds, dtype=object)[order]
    keys = q.row * ROW_SHIFT + q.fid
    label = _member(inj, keys)
    at = np.minimum(np.searchsorted(inj, keys), max(len(inj) - 1, 0))
    kind = np.where(label, kinds[at] if len(inj) else "original", "original").astype(object)
    frame = _frame(stats, menc, q, kind, code, spec)
    frame["injected"] = label
    return UnusedCases(frame)


def detection_metrics(scores: np.ndarray, labels: np.ndarray, threshold: float) -> dict[str, float]:
    """Precision, recall and F1 of `scores >= threshold` (0 where undefined), ROC-AUC and average
    precision of the scores."""
    labels = np.asarray(labels, dtype=bool)
    flagged = np.asarray(scores) >= threshold
    precision, recall, f1 = 0.0, 0.0, 0.0
    if len(labels):
        precision, recall, f1, _ = precision_recall_fscore_support(
            labels, flagged, average="binary", pos_label=True, zero_division=0.0
        )
    both = labels.any() and (~labels).any()
    return {
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "roc_auc": float(roc_auc_score(labels, scores)) if both else float("nan"),
        "average_precision": float(average_precision_score(labels, scores)) if both else float("nan"),
        "threshold": float(threshold),
        "n": float(len(labels)),
        "n_injected": float(labels.sum()),
    }


def unused_metrics(
    cases: UnusedCases, model_p: np.ndarray, spec: SuggesterSpec, threshold: float, baseline_threshold: float
) -> tuple[dict[str, float], dict[str, float]]:
    frame, labels = cases.frame, cases.frame["injected"].to_numpy()
    model = detection_metrics(unused_scores(model_p, frame, spec), labels, threshold)
    base = detection_metrics(1.0 - baseline_scores(frame), labels, baseline_threshold)
    return model, base


def holdout_metrics(frame: pd.DataFrame, scores: np.ndarray) -> dict[str, float]:
    """Of the classifier on held-out query rows (belongs or not)."""
    labels = frame["label"].to_numpy()
    if len(np.unique(labels)) < 2:
        return {"roc_auc": float("nan"), "pr_auc": float("nan"), "n": float(len(labels))}
    return {
        "roc_auc": float(roc_auc_score(labels, scores)),
        "pr_auc": float(average_precision_score(labels, scores)),
        "n": float(len(labels)),
        "positives": float(labels.sum()),
    }


def terraform_unused_metrics(suggestions: list[dict], corpus: Corpus, code: CodeEvidence) -> dict[str, float]:
    """Unused-field precision and recall of `suggest(...)`'s output against what the Terraform reads,
    over the configs of types with code evidence: the truth is each config's set-but-never-read
    fields (an unread subtree once, at its top-most unread prefix: `code_unused.unread_fields`); a
    flagged field is right when the Terraform never reads it. `top_level_recall`: of the truth's
    top-level fields only."""
    from karma_pipelines.suggester.code_unused import unread_fields, unread_root

    configs = corpus.configs
    row_of = {
        (c, e): i for i, (c, e) in enumerate(zip(configs["component"], configs["environment"], strict=True))
    }
    rows = [
        row_of[(s["component"], s["environment"])]
        for s in suggestions
        if (s["component"], s["environment"]) in row_of
    ]
    truth = unread_fields(corpus, code, rows)
    flagged_read = hits = n_flagged = top_total = top_hits = 0
    for s in suggestions:
        row = row_of.get((s["component"], s["environment"]))
        ctype = s["component_type"]
        if row is None or not code.has(ctype):
            continue
        found = {unread_root(code.types[ctype], u["field"]) for u in s["unused"]}
        n_flagged += len(s["unused"])
        flagged_read += sum(1 for u in s["unused"] if unread_root(code.types[ctype], u["field"]) is None)
        want = set(truth.get(row, {}))
        hits += len(want & found)
        top = {w for w in want if "." not in w}
        top_total, top_hits = top_total + len(top), top_hits + len(top & found)
    n_truth = sum(len(v) for v in truth.values())
    return {
        "precision": (n_flagged - flagged_read) / n_flagged if n_flagged else float("nan"),
        "recall": hits / n_truth if n_truth else float("nan"),
        "top_level_recall": top_hits / top_total if top_total else float("nan"),
        "n_flagged": float(n_flagged),
        "n_read_flagged": float(flagged_read),
        "n_unread": float(n_truth),
        "n_configs": float(len(truth)),
    }
