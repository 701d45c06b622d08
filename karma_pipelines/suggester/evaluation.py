"""How good the suggestions are, model and baseline side by side on the same cases.

- Masked-field recovery on held-out components: `eval_masked`.
- Unused-field detection on configs with injected fields: `eval_unused`.
- History: fit on configs as of an earlier date; do fields added later rank in each config's top 5
  missing, and fields removed later in its top 5 unused?
- Planted mistakes (simulator): `ground_truth/config_mistakes.csv`.
"""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

from karma_pipelines.suggester.candidates import candidate_queries
from karma_pipelines.suggester.code_evidence import CodeEvidence
from karma_pipelines.suggester.corpus import Corpus
from karma_pipelines.suggester.eval_masked import masked_cases, masked_table
from karma_pipelines.suggester.eval_unused import detection_metrics, unused_cases
from karma_pipelines.suggester.features import Queries
from karma_pipelines.suggester.labelled_queries import fit_corpus_stats
from karma_pipelines.suggester.model import predict
from karma_pipelines.suggester.spec import SuggesterSpec
from karma_pipelines.suggester.stats import CorpusStats, encode
from karma_pipelines.suggester.suggestions import score_corpus, suggest


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


# --- the masked-field protocol (`karma-pipelines suggest-eval`, `make bench-real`) -------------------------

PROTOCOL_SHARE = 0.2  # of the components: hidden-field configs
OPTIONAL_SHARE = 0.9  # a hidden field: set by at least `min_field_configs` and fewer than 90% of its type


def _micro(table: pd.DataFrame, prefix: str) -> dict[str, float]:
    if table.empty:
        return {"hit_at_1": float("nan"), "hit_at_5": float("nan"), "mrr": float("nan")}
    return {
        "hit_at_1": float(table[f"{prefix}hit_at_1"].mean()),
        "hit_at_5": float(table[f"{prefix}hit_at_5"].mean()),
        "mrr": float(table[f"{prefix}rr"].mean()),
    }


def masked_protocol(
    corpus: Corpus,
    spec: SuggesterSpec,
    code: CodeEvidence | None = None,
    seeds: int = 3,
    progress=None,
) -> dict:
    """For seeds 0..K-1: hold out 20% of the components (`split_by_component`), train the suggester on
    the rest (its ranker chosen there by cross-validation), hide one optional field in each held-out
    config (set by at least `min_field_configs` and fewer than 90% of its type's configs) and rank it
    among the config's candidates. Hit@1, Hit@5 and MRR over the cases (micro) of the suggester as it
    ships (`model`: its chosen ranker), of the LightGBM model alone and of the baseline, per seed and
    their mean over seeds."""
    from karma_pipelines.suggester.model import fit_suggester

    per_seed = []
    for seed in range(seeds):
        train_rows, test_rows = split_by_component(corpus, PROTOCOL_SHARE, seed)
        train = corpus.subset(train_rows)
        fitted = fit_suggester(train, spec, code)
        stats = fit_corpus_stats(train, spec)
        cases = masked_cases(
            stats, corpus, corpus.subset(test_rows), spec, code, seed=seed, per_config=1,
            max_share=OPTIONAL_SHARE,
        )  # fmt: skip
        p = predict(fitted.booster, cases.candidates) if len(cases.candidates) else np.zeros(0)
        table = masked_table(cases, p, spec, fitted.ranker)
        per_seed.append(
            {
                "seed": seed,
                "cases": len(table),
                "test_configs": len(test_rows),
                "ranker": fitted.ranker.describe(),
                **{who: _micro(table, f"{who}_") for who in ("model", "lightgbm", "baseline")},
            }
        )
        if progress:
            progress(f"seed {seed}: {len(table)} hidden fields, ranker {fitted.ranker.name}")
    measured = [s for s in per_seed if s["cases"]]  # a seed that hid nothing has no figures

    def _mean(who: str, metric: str) -> float:
        return float(np.mean([s[who][metric] for s in measured])) if measured else float("nan")

    mean = {
        who: {m: _mean(who, m) for m in ("hit_at_1", "hit_at_5", "mrr")}
        for who in ("model", "lightgbm", "baseline")
    }
    return {
        "configs": len(corpus),
        "types": int(corpus.configs["component_type"].nunique()),
        "seeds": seeds,
        "cases": int(sum(s["cases"] for s in per_seed)),
        "rankers": [s["ranker"]["name"] for s in per_seed],
        **mean,
        "per_seed": per_seed,
    }


def code_unused_metrics(run, corpus: Corpus, code: CodeEvidence, top: int = 5) -> dict[str, float]:
    """Unused flags (`suggest`'s top `top` per config) against what the Terraform reads: the one
    measure, `eval_unused.terraform_unused_metrics`, with its F1 (`n`: configs of types with code)."""
    from karma_pipelines.suggester.eval_unused import terraform_unused_metrics

    m = terraform_unused_metrics(suggest(run, corpus, top=top, code=code), corpus, code)
    p, r = m["precision"], m["recall"]
    f1 = 2 * p * r / (p + r) if np.isfinite(p) and np.isfinite(r) and p + r > 0 else float("nan")
    return {"precision": p, "recall": r, "f1": f1, "n": m["n_configs"], **m}
