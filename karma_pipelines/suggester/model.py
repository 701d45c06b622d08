"""The suggester model: LightGBM trained self-supervised on the corpus, and suggestions with reasons.

Training rows: every field a config sets, scored from the rest of the config (positives; fields no
other config sets are left out, nothing could vouch for them), absent candidate fields (negatives),
and injected fields of other component types and misspelt names of present fields (negatives).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd

from karma_pipelines.suggester.baseline import baseline_scores
from karma_pipelines.suggester.candidates import candidate_queries, present_queries
from karma_pipelines.suggester.code_evidence import CodeEvidence
from karma_pipelines.suggester.corpus import Corpus
from karma_pipelines.suggester.corruption import Corruption, corrupt_twins
from karma_pipelines.suggester.features import Queries, featurize
from karma_pipelines.suggester.names import misspell, recombine
from karma_pipelines.suggester.spec import SuggesterSpec
from karma_pipelines.suggester.stats import ROW_SHIFT, CorpusStats, Encoded, _member, encode, fit_stats


@dataclass
class QueryFrame:
    """Scored-to-be queries with their features: `frame` holds row, key, component_type, field,
    present, label (1 = the config sets it), kind (present, absent, foreign, typo) and FEATURES."""

    frame: pd.DataFrame

    def __len__(self) -> int:
        return len(self.frame)


def fit_corpus_stats(corpus: Corpus, spec: SuggesterSpec) -> CorpusStats:
    return fit_stats(corpus, spec.min_support, spec.min_rule_support, spec.max_vocabulary)


def _frame(
    stats: CorpusStats,
    qenc: Encoded,
    q: Queries,
    kind: np.ndarray,
    code,
    spec,
    is_set: np.ndarray | None = None,
) -> pd.DataFrame:
    """Features of queries. `is_set` (default: the config sets the field) is the question asked: 0 =
    "should this absent field be here?" (missing), 1 = "does this field that is here belong?" (unused)."""
    features = featurize(stats, qenc, q, code, spec.neighbours)
    configs = qenc.corpus.configs
    head = pd.DataFrame(
        {
            "row": q.row,
            "key": configs["key"].to_numpy()[q.row],
            "component_type": configs["component_type"].to_numpy()[q.row],
            "field": np.asarray(stats.vocab.names, dtype=object)[q.fid],
            "present": q.present,
            "label": q.present.astype(np.int64),
            "kind": kind,
        }
    )
    frame = pd.concat([head, features], axis=1)
    frame["is_set"] = (q.present if is_set is None else is_set).astype(np.float32)
    return frame


def injected_queries(
    stats: CorpusStats,
    qenc: Encoded,
    rows: np.ndarray,
    n_foreign: int,
    n_typos: int,
    rng: np.random.Generator,
    min_other_support: int = 2,
    n_new: int = 0,
) -> tuple[Queries, np.ndarray]:
    """Fields a row does not set and its type never sets: fields of other types (`foreign`),
    misspelt names of fields it sets (`typo`) and names made of parts of known names (`new`).
    Returned as absent queries: the evidence is the rest of the config, as for a field it sets."""
    configs = qenc.corpus.configs
    types = configs["component_type"].to_numpy()
    all_fields = sorted({n for n in stats.vocab.names if not n.startswith("@")})
    out_rows, out_names, out_kind = [], [], []
    for ctype in sorted(set(types[rows])):
        mine = rows[types[rows] == ctype]
        ts = stats.types.get(ctype)
        own = set() if ts is None else {stats.vocab.names[g] for g in ts.gids}
        pool = sorted(
            {
                stats.vocab.names[g]
                for other, ots in stats.types.items()
                if other != ctype
                for g in ots.gids[(~ots.is_token) & (ots.count >= min_other_support)]
            }
            - own
        )
        if pool and n_foreign:
            picks = rng.integers(len(pool), size=(len(mine), n_foreign))
            out_rows.append(np.repeat(mine, n_foreign))
            out_names += [pool[i] for i in picks.ravel()]
            out_kind += ["foreign"] * picks.size
        if n_new and all_fields:
            for row in np.repeat(mine, n_new):
                name = recombine(rng, all_fields)
                if name and name not in own:
                    out_rows.append(np.array([row]))
                    out_names.append(name)
                    out_kind.append("new")
        if n_typos:
            for row in mine:
                fields = [stats.vocab.names[g] for g in qenc.indices[qenc.indptr[row] : qenc.indptr[row + 1]]]
                fields = [f for f in fields if len(f.rpartition(".")[2]) >= 4]
                if not fields:
                    continue
                for i in rng.choice(len(fields), size=min(n_typos, len(fields)), replace=False):
                    typo = misspell(rng, fields[int(i)])
                    if typo not in own:
                        out_rows.append(np.array([row]))
                        out_names.append(typo)
                        out_kind.append("typo")
    if not out_names:
        return Queries(
            np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
        ), np.array([])
    row_arr = np.concatenate(out_rows).astype(np.int64)
    fid = stats.vocab.ids(out_names)
    keep = ~qenc.has(row_arr, fid)
    q = Queries(row_arr[keep], fid[keep], np.zeros(int(keep.sum()), dtype=bool))
    return q, np.asarray(out_kind, dtype=object)[keep]


def _pairs(stats: CorpusStats, pairs: frozenset[tuple[int, str]]) -> np.ndarray:
    if not pairs:
        return np.zeros(0, dtype=np.int64)
    rows = np.fromiter((r for r, _ in pairs), dtype=np.int64, count=len(pairs))
    return np.unique(rows * ROW_SHIFT + stats.vocab.ids(name for _, name in pairs))


def query_frame(
    stats: CorpusStats,
    qenc: Encoded,
    rows: np.ndarray,
    spec: SuggesterSpec,
    code: CodeEvidence | None,
    rng: np.random.Generator,
    negatives: int | None = None,
    corruption: Corruption | None = None,
) -> QueryFrame:
    """Labelled queries for `rows`, both questions:

    - missing (is_set 0): each field a config sets, hidden (1); sampled absent candidates (0);
    - unused (is_set 1): each field a config sets (1); injected foreign, misspelt and new names (0).

    With a `corruption` of the corpus, the fields it removed are absent candidates labelled 1 and
    the fields it added are set fields labelled 0.
    """
    rows = np.sort(np.asarray(rows, dtype=np.int64))
    removed = _pairs(stats, corruption.removed) if corruption else np.zeros(0, dtype=np.int64)
    added = _pairs(stats, corruption.added) if corruption else np.zeros(0, dtype=np.int64)
    present = present_queries(qenc)
    present = present.take(np.flatnonzero(np.isin(present.row, rows)))
    absent = candidate_queries(stats, qenc, code)
    absent = absent.take(np.flatnonzero(np.isin(absent.row, rows)))
    was_removed = _member(removed, absent.row * ROW_SHIFT + absent.fid)
    cap = spec.negatives_per_config if negatives is None else negatives
    if cap and len(absent):
        noise = rng.random(len(absent)) + ~was_removed  # removed fields first: never sampled away
        order = np.lexsort((noise, absent.row))
        absent, was_removed = absent.take(order), was_removed[order]
        first = np.searchsorted(absent.row, absent.row, side="left")
        keep = np.flatnonzero((np.arange(len(absent)) - first < cap) | was_removed)
        absent, was_removed = absent.take(keep), was_removed[keep]
    injected, kinds = injected_queries(
        stats,
        qenc,
        rows,
        spec.foreign_per_config,
        spec.typos_per_config,
        rng,
        n_new=spec.new_names_per_config,
    )
    was_added = _member(added, present.row * ROW_SHIFT + present.fid)
    q = Queries.concat([present, absent, injected])
    kind = np.concatenate(
        [
            np.where(was_added, "twin_added", "present").astype(object),
            np.where(was_removed, "twin_removed", "absent").astype(object),
            kinds,
        ]
    )
    n_p, n_a = len(present), len(absent)
    is_set = np.concatenate([np.zeros(n_p + n_a), np.ones(len(injected))])
    frame = _frame(stats, qenc, q, kind, code, spec, is_set)
    frame["label"] = np.concatenate([~was_added, was_removed, np.zeros(len(injected), dtype=bool)]).astype(
        np.int64
    )
    as_set = frame.iloc[:n_p].assign(is_set=np.float32(1.0))  # the same fields, asked the other question
    return QueryFrame(pd.concat([frame, as_set], ignore_index=True))


def trainable(frame: pd.DataFrame) -> pd.Series:
    """Rows to learn from: a present field counts only if some other config vouches for it."""
    vouched = (frame["type_support"] > 0) | (frame["pattern_rate"] > 0) | (frame["twin_rate"] > 0)
    return ~(frame["present"] & (frame["label"] == 1)) | vouched


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
    """The threshold (midpoint between two scores) with the best F1 of `scores >= threshold`."""
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], labels[order].astype(np.float64)
    tp = np.cumsum(y)
    precision = tp / np.arange(1, len(y) + 1)
    recall = tp / max(y.sum(), 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    last = np.r_[s[1:] != s[:-1], True]  # only cut between distinct scores
    f1 = np.where(last, f1, -1.0)
    best = int(np.argmax(f1))
    below = s[best + 1] if best + 1 < len(s) else 0.0
    return float((s[best] + below) / 2.0)


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
    return FittedSuggester(
        booster, spec, float(threshold), float(base_threshold), fit, valid, importance, validation
    )


# --- suggestions ---------------------------------------------------------------------------------------


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _missing_reason(row: dict, ctype: str, names: list[str], types: list[str]) -> str:
    parts = []
    if row["code_required"] == 1:
        parts.append(f"the {ctype} Terraform reads it without a default")
    evidence = []
    if row["n_twins"] > 0 and row["twin_rate"] >= 0.5:
        evidence.append(
            (row["twin_rate"] + 0.2, f"set by {_pct(row['twin_rate'])} of its twins in other environments")
        )
    if row["is_map_child"] == 1 and not np.isnan(row["pattern_rate"]):
        evidence.append((row["pattern_rate"], f"{_pct(row['pattern_rate'])} of entries like it set this key"))
    rule_adds = not np.isnan(row["type_rate"]) and row["assoc_max"] > row["type_rate"] + 0.05
    if not np.isnan(row["assoc_max"]) and row["why_rule_from"] >= 0 and rule_adds:
        evidence.append(
            (
                row["assoc_max"],
                f"{_pct(row['assoc_max'])} of {ctype} configs with `{names[row['why_rule_from']]}` set it",
            )
        )
    if not np.isnan(row["knn_rate"]):
        evidence.append(
            (row["knn_rate"], f"set by {_pct(row['knn_rate'])} of the most similar {ctype} configs")
        )
    if not np.isnan(row["type_rate"]):
        evidence.append((row["type_rate"], f"set by {_pct(row['type_rate'])} of {ctype} configs"))
    evidence.sort(key=lambda e: -e[0])
    parts += [text for _, text in evidence[:2]]
    if row["code_available"] == 1 and row["code_read"] == 0:
        parts.append(f"but no {ctype} Terraform reads it")
    return "; ".join(parts) or "corpus evidence"


def _unused_reason(row: dict, ctype: str, names: list[str], types: list[str]) -> str:
    parts = []
    if row["code_available"] == 1 and row["code_read"] == 0:
        parts.append(f"no {ctype} Terraform reads it")
    if row["why_near"] >= 0 and (row["typo_of_present"] == 1 or row["near_common_field"] == 1):
        which = ", which is set" if row["typo_of_present"] == 1 else ""
        parts.append(f"looks like a misspelling of `{names[row['why_near']]}`{which}")
    if row["type_support"] == 0:
        if row["other_type_rate"] >= 0.2 and row["why_other_type"] >= 0:
            parts.append(
                f"no other {ctype} config sets it; {_pct(row['other_type_rate'])} of "
                f"{types[row['why_other_type']]} configs do"
            )
        else:
            parts.append(f"no other {ctype} config sets it")
    else:
        parts.append(f"set by only {int(row['type_support'])} of {int(row['n_type'])} other {ctype} configs")
        if row["n_twins"] > 0 and row["twin_rate"] == 0:
            parts.append("none of its twins in other environments")
    if row["code_available"] == 1 and row["code_read"] == 1:
        parts.append(f"(the {ctype} Terraform reads it)")
    return "; ".join(parts)


def score_corpus(
    booster: lgb.Booster,
    corpus: Corpus,
    spec: SuggesterSpec,
    code: CodeEvidence | None = None,
    rows: np.ndarray | None = None,
) -> tuple[pd.DataFrame, CorpusStats]:
    """Every candidate (absent) and every present field of `corpus` (or of `rows`), scored: one frame
    with `missing_score` (absent fields) and `unused_score` (present fields), statistics of `corpus`."""
    stats = fit_corpus_stats(corpus, spec)
    enc = stats.encoded
    absent, present = candidate_queries(stats, enc, code), present_queries(enc)
    if rows is not None:
        wanted = np.asarray(rows, dtype=np.int64)
        absent = absent.take(np.flatnonzero(np.isin(absent.row, wanted)))
        present = present.take(np.flatnonzero(np.isin(present.row, wanted)))
    q = Queries.concat([absent, present])
    kind = np.where(q.present, "present", "absent").astype(object)
    frame = _frame(stats, enc, q, kind, code, spec)
    p = predict(booster, frame) if len(frame) else np.zeros(0)
    frame["p"] = p
    frame["missing_score"] = np.where(frame["present"], np.nan, missing_scores(p, frame, spec))
    frame["unused_score"] = np.where(frame["present"], unused_scores(p, frame, spec), np.nan)
    frame["baseline"] = baseline_scores(frame)
    return frame, stats


def suggest(
    run_or_booster,
    corpus: Corpus,
    component: str | None = None,
    top: int = 5,
    *,
    code: CodeEvidence | None = None,
    spec: SuggesterSpec | None = None,
    unused_threshold: float | None = None,
    missing_threshold: float | None = None,
) -> list[dict]:
    """Ranked suggestions per config: `missing` (absent fields scoring at least the missing threshold)
    and `unused` (present fields scoring at least the unused threshold), each with a reason. Field
    names only: no value of any config is read or returned."""
    booster = getattr(run_or_booster, "booster", run_or_booster)
    spec = spec or getattr(run_or_booster, "spec", None)
    if spec is None:
        from karma_pipelines.suggester.spec import load_suggester_spec

        spec = load_suggester_spec()
    code = code if code is not None else getattr(run_or_booster, "code", None)
    if unused_threshold is None:
        unused_threshold = getattr(run_or_booster, "unused_threshold", None) or spec.unused_threshold or 0.5
    missing_threshold = spec.missing_threshold if missing_threshold is None else missing_threshold
    rows = corpus.row_of(component) if component else None
    if component and not rows:
        raise KeyError(f"no config for component {component!r}")
    frame, stats = score_corpus(booster, corpus, spec, code, rows)
    names, types = stats.vocab.names, stats.type_names
    present = frame["present"].to_numpy()
    missing = ~present & (frame["missing_score"].to_numpy() >= missing_threshold)
    unused = present & (frame["unused_score"].to_numpy() >= unused_threshold)
    picked = []
    for mask, column in ((missing, "missing_score"), (unused, "unused_score")):
        part = frame[mask].sort_values(["row", column, "field"], ascending=[True, False, True], kind="stable")
        part = part[part.groupby("row").cumcount() < top]
        explain = _missing_reason if column == "missing_score" else _unused_reason
        reasons = [explain(r, r["component_type"], names, types) for r in part.to_dict("records")]
        picked.append(
            pd.DataFrame(
                {"row": part["row"].to_numpy(), "field": part["field"].to_numpy(),
                 "score": part[column].round(4).to_numpy(), "reason": reasons}
            )
        )  # fmt: skip
    configs = corpus.configs
    by_row = [_by_row(p) for p in picked]
    out = []
    for row in rows if rows is not None else range(len(corpus)):
        out.append(
            {
                "component": configs["component"].iat[row],
                "environment": configs["environment"].iat[row],
                "component_type": configs["component_type"].iat[row],
                "missing": by_row[0].get(row, []),
                "unused": by_row[1].get(row, []),
            }
        )
    return out


def _by_row(part: pd.DataFrame) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {}
    for rec in part.to_dict("records"):
        row = rec.pop("row")
        rec["score"] = float(rec["score"])
        out.setdefault(int(row), []).append(rec)
    return out


__all__ = ["FittedSuggester", "fit_suggester", "score_corpus", "suggest", "encode"]
