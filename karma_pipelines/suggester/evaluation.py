"""How good the suggestions are, model and baseline side by side on the same cases.

- Masked-field recovery on held-out components (split by component): hide one field a config sets
  (among fields set by at least `min_field_configs` configs of its type) and rank it among the
  config's candidates. Hit@1, Hit@5 and MRR, macro-averaged over component types, separately for
  fields every config of the type sets (easy) and the others (optional). Ties count at their
  expected rank, so a scorer that ties everything gains nothing from tie order.
- Unused-field detection: inject fields of other component types and misspelt names into held-out
  configs; precision, recall and F1 at the suggester's threshold, ROC-AUC and average precision.
- History: fit on configs as of an earlier date; do fields added later rank in each config's top 5
  missing, and fields removed later in its top 5 unused?
- Planted mistakes (simulator): `ground_truth/config_mistakes.csv`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.special import digamma
from sklearn.metrics import average_precision_score, roc_auc_score

from karma_pipelines.suggester.baseline import baseline_scores
from karma_pipelines.suggester.candidates import candidate_queries, present_queries
from karma_pipelines.suggester.code_evidence import CodeEvidence
from karma_pipelines.suggester.corpus import Corpus
from karma_pipelines.suggester.features import Queries
from karma_pipelines.suggester.model import (
    _frame,
    fit_corpus_stats,
    injected_queries,
    missing_scores,
    predict,
    score_corpus,
    unused_scores,
)
from karma_pipelines.suggester.spec import SuggesterSpec
from karma_pipelines.suggester.stats import ROW_SHIFT, CorpusStats, _member, encode

EULER = 0.5772156649015329


def split_by_component(corpus: Corpus, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and test rows; every config of one component lands on the same side."""
    components = np.array(sorted(set(corpus.configs["component"])))
    rng = np.random.default_rng(seed)
    n_test = max(1, int(round(test_fraction * len(components))))
    test = set(components[rng.permutation(len(components))[:n_test]])
    is_test = corpus.configs["component"].isin(test).to_numpy()
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def component_folds(corpus: Corpus, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """K (train, test) splits by component; each component is tested exactly once."""
    components = np.array(sorted(set(corpus.configs["component"])))
    order = np.random.default_rng(seed).permutation(len(components))
    fold_of = dict(zip(components[order], np.arange(len(components)) % folds, strict=True))
    which = corpus.configs["component"].map(fold_of).to_numpy()
    return [(np.flatnonzero(which != k), np.flatnonzero(which == k)) for k in range(folds)]


def _harmonic(n: np.ndarray) -> np.ndarray:
    return digamma(np.asarray(n, dtype=np.float64) + 1.0) + EULER


def expected_rank_metrics(greater: np.ndarray, ties: np.ndarray, found: np.ndarray) -> pd.DataFrame:
    """Hit@1, Hit@5 and reciprocal rank when the target is ranked after `greater` candidates and
    uniformly among `ties` others with its score; zero when it is no candidate at all."""
    g, t = greater.astype(np.float64), ties.astype(np.float64)
    out = {}
    for k in (1, 5):
        out[f"hit_at_{k}"] = np.where(found, np.clip((k - g) / (t + 1.0), 0.0, 1.0), 0.0)
    out["rr"] = np.where(found, (_harmonic(g + t + 1.0) - _harmonic(g)) / (t + 1.0), 0.0)
    out["rank"] = np.where(found, g + (t + 2.0) / 2.0, np.inf)
    return pd.DataFrame(out)


def rank_of_targets(cases: np.ndarray, scores: np.ndarray, target: np.ndarray, n_cases: int) -> pd.DataFrame:
    """Per case: how many candidates score above / equal to the target (vectorised)."""
    frame = pd.DataFrame({"case": cases, "score": scores, "target": target})
    tscore = frame[frame["target"]].drop_duplicates("case").set_index("case")["score"]
    at = frame["case"].map(tscore)
    frame["greater"] = (frame["score"] > at) & ~frame["target"]
    frame["tie"] = (frame["score"] == at) & ~frame["target"]
    agg = frame.groupby("case")[["greater", "tie"]].sum().reindex(np.arange(n_cases), fill_value=0)
    found = np.isin(np.arange(n_cases), tscore.index.to_numpy())
    return pd.concat(
        [
            agg.reset_index(drop=True),
            expected_rank_metrics(agg["greater"].to_numpy(), agg["tie"].to_numpy(), found),
        ],
        axis=1,
    ).assign(found=found)


def summarize_ranks(table: pd.DataFrame, prefix: str) -> dict[str, float]:
    """Macro-averaged over component types (and micro), per kind (easy / optional)."""
    out: dict[str, float] = {}
    for kind in ("easy", "optional"):
        part = table[table["kind"] == kind]
        if part.empty:
            continue
        per_type = part.groupby("component_type")[
            [f"{prefix}hit_at_1", f"{prefix}hit_at_5", f"{prefix}rr"]
        ].mean()
        out[f"{kind}_hit_at_1"] = float(per_type[f"{prefix}hit_at_1"].mean())
        out[f"{kind}_hit_at_5"] = float(per_type[f"{prefix}hit_at_5"].mean())
        out[f"{kind}_mrr"] = float(per_type[f"{prefix}rr"].mean())
        out[f"{kind}_micro_hit_at_5"] = float(part[f"{prefix}hit_at_5"].mean())
        out[f"{kind}_n"] = float(len(part))
        out[f"{kind}_types"] = float(len(per_type))
    return out


@dataclass
class MaskedCases:
    """Masked-field cases: the candidates' features (with `case` and `target`) and one row per case."""

    candidates: pd.DataFrame
    cases: pd.DataFrame  # case, key, component_type, field, kind


def masked_cases(
    stats: CorpusStats,
    full: Corpus,
    test: Corpus,
    spec: SuggesterSpec,
    code: CodeEvidence | None,
    max_cases: int = 4000,
    seed: int = 0,
) -> MaskedCases:
    """One case per (test config, field it sets that `min_field_configs` configs of its type set in
    the full corpus), at most `max_cases` (a random sample)."""
    counts: dict[tuple[str, str], int] = {}
    sizes = full.configs["component_type"].value_counts().to_dict()
    for ctype, fields in zip(full.configs["component_type"], full.fields, strict=True):
        for f in fields:
            counts[(ctype, f)] = counts.get((ctype, f), 0) + 1
    rows, names, kinds = [], [], []
    for i, (ctype, fields) in enumerate(zip(test.configs["component_type"], test.fields, strict=True)):
        for f in fields:
            n = counts.get((ctype, f), 0)
            if n >= spec.min_field_configs:
                rows.append(i)
                names.append(f)
                kinds.append("easy" if n == sizes[ctype] else "optional")
    rows_arr = np.asarray(rows, dtype=np.int64)
    if len(rows_arr) > max_cases:
        keep = np.sort(np.random.default_rng(seed).choice(len(rows_arr), max_cases, replace=False))
        rows_arr, names, kinds = rows_arr[keep], [names[i] for i in keep], [kinds[i] for i in keep]
    masked = test.subset(rows_arr)
    masked = masked.with_fields([set(f) - {name} for f, name in zip(masked.fields, names, strict=True)])
    masked = _renamed(masked)
    enc = encode(masked, stats.vocab)
    q = candidate_queries(stats, enc, code)
    frame = _frame(stats, enc, q, np.full(len(q), "absent", dtype=object), code, spec)
    target_ids = stats.vocab.ids(names)
    frame["case"] = frame["row"]
    frame["target"] = q.fid == target_ids[q.row]
    cases = pd.DataFrame(
        {
            "case": np.arange(len(rows_arr)),
            "key": test.configs["key"].to_numpy()[rows_arr],
            "component_type": test.configs["component_type"].to_numpy()[rows_arr],
            "field": names,
            "kind": kinds,
        }
    )
    return MaskedCases(frame, cases)


def _renamed(corpus: Corpus) -> Corpus:
    """Evaluation copies get keys of their own (they are never rows of the statistics)."""
    configs = corpus.configs.assign(key=[f"{k}#eval{i}" for i, k in enumerate(corpus.configs["key"])])
    return Corpus(configs, corpus.fields, corpus.source, corpus.skipped)


def masked_table(cases: MaskedCases, model_scores: np.ndarray, spec: SuggesterSpec) -> pd.DataFrame:
    """Model and baseline rank metrics per case."""
    frame = cases.candidates
    n = len(cases.cases)
    model = rank_of_targets(
        frame["case"].to_numpy(), missing_scores(model_scores, frame, spec), frame["target"].to_numpy(), n
    )
    base = rank_of_targets(frame["case"].to_numpy(), baseline_scores(frame), frame["target"].to_numpy(), n)
    cols = ["hit_at_1", "hit_at_5", "rr", "rank", "found"]
    return pd.concat(
        [cases.cases, model[cols].add_prefix("model_"), base[cols].add_prefix("baseline_")], axis=1
    )


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
    flagged = scores >= threshold
    tp = float((flagged & labels).sum())
    precision = tp / max(float(flagged.sum()), 1.0)
    recall = tp / max(float(labels.sum()), 1.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    both = labels.any() and (~labels).any()
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
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


# --- history ---------------------------------------------------------------------------------------------


def history_metrics(
    booster: lgb.Booster,
    then: Corpus,
    now: Corpus,
    spec: SuggesterSpec,
    code: CodeEvidence | None,
    top: int = 5,
) -> dict[str, dict[str, float]]:
    """Fields added between `then` and `now`: in the config's top-`top` missing (as of `then`)?
    Fields removed: in its top-`top` unused? Model and baseline, micro-averaged over fields."""
    frame, _ = score_corpus(booster, then, spec, code)
    later = dict(zip(now.configs["key"], now.fields, strict=True))
    keys = then.configs["key"].to_numpy()
    frame["key"] = keys[frame["row"].to_numpy()]
    absent = frame[~frame["present"]].copy()
    present = frame[frame["present"]].copy()
    absent["model_rank"] = absent.groupby("row")["missing_score"].rank(ascending=False, method="average")
    absent["baseline_rank"] = absent.groupby("row")["baseline"].rank(ascending=False, method="average")
    present["model_rank"] = present.groupby("row")["unused_score"].rank(ascending=False, method="average")
    present["baseline_rank"] = (
        (1.0 - present["baseline"]).groupby(present["row"]).rank(ascending=False, method="average")
    )
    added, removed = [], []
    for key, fields in zip(keys, then.fields, strict=True):
        if key not in later:
            continue
        before, after = set(fields), set(later[key])
        added += [(key, f) for f in sorted(after - before)]
        removed += [(key, f) for f in sorted(before - after)]
    out: dict[str, dict[str, float]] = {}
    for name, pairs, table in (("added", added, absent), ("removed", removed, present)):
        index = table.set_index(["key", "field"])
        result = {"n": float(len(pairs))}
        for who in ("model", "baseline"):
            ranks = (
                index[f"{who}_rank"].reindex(pd.MultiIndex.from_tuples(pairs, names=["key", "field"]))
                if pairs
                else pd.Series(dtype=float)
            )
            hits = (ranks <= top).fillna(False)
            result[f"{who}_hit_at_{top}"] = float(hits.mean()) if pairs else float("nan")
            result[f"{who}_candidates"] = float(ranks.notna().mean()) if pairs else float("nan")
        out[name] = result
    return out


# --- planted mistakes (simulator) -------------------------------------------------------------------------


def planted_metrics(
    booster: lgb.Booster,
    corpus: Corpus,
    mistakes: pd.DataFrame,
    spec: SuggesterSpec,
    code: CodeEvidence | None,
    unused_threshold: float,
    baseline_threshold: float,
    top: int = 5,
) -> dict[str, dict[str, float]]:
    """Planted missing fields: in the config's top-`top` missing? Planted unused fields: flagged (at
    the threshold) and in its top-`top` unused? Also the precision of all unused flags (the
    simulator's truth lists every field its Terraform catalogue does not read)."""
    frame, _ = score_corpus(booster, corpus, spec, code)
    keys = corpus.configs["component"].to_numpy()
    frame["component"] = keys[frame["row"].to_numpy()]
    absent = frame[~frame["present"]].copy()
    present = frame[frame["present"]].copy()
    absent["model_rank"] = absent.groupby("row")["missing_score"].rank(ascending=False, method="average")
    absent["baseline_rank"] = absent.groupby("row")["baseline"].rank(ascending=False, method="average")
    present["base_unused"] = 1.0 - present["baseline"]
    present["model_rank"] = present.groupby("row")["unused_score"].rank(ascending=False, method="average")
    present["baseline_rank"] = present.groupby("row")["base_unused"].rank(ascending=False, method="average")
    truth = mistakes[mistakes["component"].isin(set(keys))]
    out: dict[str, dict[str, float]] = {}
    miss = truth[truth["kind"] == "missing"]
    idx = pd.MultiIndex.from_frame(miss[["component", "field"]])
    table = absent.set_index(["component", "field"])
    out["missing"] = {"n": float(len(miss))}
    for who in ("model", "baseline"):
        ranks = table[f"{who}_rank"].reindex(idx)
        out["missing"][f"{who}_hit_at_{top}"] = (
            float((ranks <= top).fillna(False).mean()) if len(miss) else float("nan")
        )
    unused = truth[truth["kind"] == "unused"]
    planted = set(zip(unused["component"], unused["field"], strict=True))
    labels = np.array(
        [(c, f) in planted for c, f in zip(present["component"], present["field"], strict=True)]
    )
    out["unused"] = {"n": float(len(unused))}
    for who, score, threshold in (
        ("model", present["unused_score"].to_numpy(), unused_threshold),
        ("baseline", present["base_unused"].to_numpy(), baseline_threshold),
    ):
        ranks = present[f"{who}_rank"].to_numpy()
        found = labels & (ranks <= top)
        m = detection_metrics(score, labels, threshold)
        out["unused"].update(
            {
                f"{who}_recall": m["recall"],
                f"{who}_precision": m["precision"],
                f"{who}_f1": m["f1"],
                f"{who}_roc_auc": m["roc_auc"],
                f"{who}_hit_at_{top}": float(found.sum() / max(labels.sum(), 1)),
            }
        )
    return out


def load_mistakes(world: Path | str) -> pd.DataFrame:
    return pd.read_csv(Path(world) / "ground_truth" / "config_mistakes.csv")


def evaluate_split(
    booster: lgb.Booster,
    full: Corpus,
    train: Corpus,
    test: Corpus,
    spec: SuggesterSpec,
    code: CodeEvidence | None,
    unused_threshold: float,
    baseline_threshold: float,
    seed: int = 0,
) -> dict:
    """Everything measurable on one train/test split by component (statistics from `train` only)."""
    stats = fit_corpus_stats(train, spec)
    cases = masked_cases(stats, full, test, spec, code, seed=seed)
    p_masked = predict(booster, cases.candidates) if len(cases.candidates) else np.zeros(0)
    ranks = masked_table(cases, p_masked, spec)
    unused = unused_cases(stats, full, test, spec, code, seed=seed)
    p_unused = predict(booster, unused.frame) if len(unused.frame) else np.zeros(0)
    return {"ranks": ranks, "unused": unused, "p_unused": p_unused, "cases": cases, "p_masked": p_masked}


def candidates_for(stats: CorpusStats, corpus: Corpus, code: CodeEvidence | None) -> Queries:
    return candidate_queries(stats, encode(corpus, stats.vocab), code)
