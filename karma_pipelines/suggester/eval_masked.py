"""Masked-field recovery on held-out components (split by component): hide one field a config sets
(among fields set by at least `min_field_configs` configs of its type) and rank it among the
config's candidates. Hit@1, Hit@5 and MRR, macro-averaged over component types, separately for
fields every config of the type sets (easy) and the others (optional). Ties count at their
expected rank, so a scorer that ties everything gains nothing from tie order. Candidates are ranked as
`suggest` shows them (a missing subtree once, at its root). The same cases serve the held-out
evaluation, the choice of ranker (`ranker.py`) and `suggest-eval` (`evaluation.masked_protocol`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import digamma

from karma_pipelines.suggester.baseline import baseline_scores
from karma_pipelines.suggester.candidates import candidate_queries, missing_roots, subtree_groups
from karma_pipelines.suggester.code_evidence import CodeEvidence
from karma_pipelines.suggester.corpus import Corpus
from karma_pipelines.suggester.labelled_queries import _frame
from karma_pipelines.suggester.model import missing_scores
from karma_pipelines.suggester.spec import SuggesterSpec
from karma_pipelines.suggester.stats import CorpusStats, encode

EULER = 0.5772156649015329


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


def eligible_fields(full: Corpus, min_configs: int, max_share: float | None = None) -> dict:
    """(type, field) -> configs of the type setting it, for fields set by at least `min_configs`
    configs (and, with `max_share`, by fewer than that share of them: the optional ones)."""
    counts: dict[tuple[str, str], int] = {}
    sizes = full.configs["component_type"].value_counts().to_dict()
    for ctype, fields in zip(full.configs["component_type"], full.fields, strict=True):
        for f in fields:
            counts[(ctype, f)] = counts.get((ctype, f), 0) + 1
    return {
        key: n
        for key, n in counts.items()
        if n >= min_configs and (max_share is None or n < max_share * sizes[key[0]])
    }


def masked_cases(
    stats: CorpusStats,
    full: Corpus,
    test: Corpus,
    spec: SuggesterSpec,
    code: CodeEvidence | None,
    max_cases: int = 4000,
    seed: int = 0,
    per_config: int | None = None,
    max_share: float | None = None,
    keep_keys: bool = False,
) -> MaskedCases:
    """One case per (test config, field it sets that `min_field_configs` configs of its type set in
    the full corpus), at most `max_cases` (a random sample). With `max_share`, only fields fewer than
    that share of the type's configs set (optional ones); with `per_config`, at most that many fields
    per config (drawn at random). `keep_keys` keeps the configs' own keys, so statistics that hold
    them leave them out (leave-one-out) instead of counting them.

    Candidates are ranked as `suggest` shows them: a missing subtree once, at its root
    (`subtree_groups`); the case is a hit where the suggestion covering the hidden field ranks."""
    sizes = full.configs["component_type"].value_counts().to_dict()
    counts = eligible_fields(full, spec.min_field_configs, max_share)
    rng = np.random.default_rng(seed)
    rows, names, kinds = [], [], []
    for i, (ctype, fields) in enumerate(zip(test.configs["component_type"], test.fields, strict=True)):
        mine = [f for f in fields if (ctype, f) in counts]
        if per_config is not None and len(mine) > per_config:
            mine = [mine[j] for j in sorted(rng.choice(len(mine), per_config, replace=False))]
        for f in mine:
            rows.append(i)
            names.append(f)
            kinds.append("easy" if counts[(ctype, f)] == sizes[ctype] else "optional")
    rows_arr = np.asarray(rows, dtype=np.int64)
    if len(rows_arr) > max_cases:
        keep = np.sort(np.random.default_rng(seed).choice(len(rows_arr), max_cases, replace=False))
        rows_arr, names, kinds = rows_arr[keep], [names[i] for i in keep], [kinds[i] for i in keep]
    masked = test.subset(rows_arr)
    masked = masked.with_fields([set(f) - {name} for f, name in zip(masked.fields, names, strict=True)])
    if not keep_keys:
        masked = _renamed(masked)
    elif masked.configs["key"].duplicated().any():  # one config masked twice: only the first keeps its key
        dup = masked.configs["key"].duplicated().to_numpy()
        keys = masked.configs["key"].to_numpy().copy()
        keys[dup] = [f"{k}#eval{i}" for i, k in zip(np.flatnonzero(dup), keys[dup], strict=True)]
        masked = Corpus(masked.configs.assign(key=keys), masked.fields, masked.source, masked.skipped)
    enc = encode(masked, stats.vocab)
    q = candidate_queries(stats, enc, code)
    frame = _frame(stats, enc, q, np.full(len(q), "absent", dtype=object), code, spec)
    target_ids = stats.vocab.ids(names)
    group, leaves = subtree_groups(stats, enc, q.row, q.fid)
    target_root = missing_roots(stats, enc, np.arange(len(rows_arr)), target_ids)
    frame["case"] = frame["row"]
    frame["target"] = q.fid == target_ids[q.row]
    frame["group"] = group
    frame["covers_target"] = (group == target_ids[q.row]) | ((group == target_root[q.row]) & (leaves >= 2))
    cases = pd.DataFrame(
        {
            "case": np.arange(len(rows_arr)),
            "key": test.configs["key"].to_numpy()[rows_arr],
            "component": test.configs["component"].to_numpy()[rows_arr],
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


def group_ranks(frame: pd.DataFrame, scores: np.ndarray, n_cases: int) -> pd.DataFrame:
    """Rank metrics per case over the suggestions (a subtree's best leaf scores for it)."""
    parts = pd.DataFrame(
        {"case": frame["case"].to_numpy(), "group": frame["group"].to_numpy(), "score": scores,
         "target": frame["covers_target"].to_numpy()}
    )  # fmt: skip
    best = parts.groupby(["case", "group"], sort=False).agg(score=("score", "max"), target=("target", "any"))
    best = best.reset_index()
    return rank_of_targets(
        best["case"].to_numpy(), best["score"].to_numpy(), best["target"].to_numpy(), n_cases
    )


def masked_table(
    cases: MaskedCases, model_scores: np.ndarray, spec: SuggesterSpec, ranker=None
) -> pd.DataFrame:
    """Rank metrics per case of the suggester (`model_`: its chosen ranker, the model's scores blended
    with the baseline's as `ranker` says; the model alone without one), of the LightGBM model alone
    (`lightgbm_`) and of the baseline (`baseline_`)."""
    frame = cases.candidates
    n = len(cases.cases)
    base = baseline_scores(frame)
    chosen = model_scores if ranker is None else ranker.blend(model_scores, base)
    cols = ["hit_at_1", "hit_at_5", "rr", "rank", "found"]
    parts = [cases.cases]
    scored = {
        "model_": missing_scores(chosen, frame, spec),
        "lightgbm_": missing_scores(model_scores, frame, spec),
        "baseline_": base,
    }
    for prefix, scores in scored.items():
        parts.append(group_ranks(frame, np.asarray(scores, dtype=np.float64), n)[cols].add_prefix(prefix))
    return pd.concat(parts, axis=1)
