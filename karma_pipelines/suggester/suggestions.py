"""Suggestions with reasons: every candidate and present field of a corpus scored by a trained booster,
ranked per config, and explained from the evidence that scored it."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd

from karma_pipelines.suggester.baseline import baseline_scores
from karma_pipelines.suggester.candidates import candidate_queries, present_queries, subtree_groups
from karma_pipelines.suggester.code_evidence import CodeEvidence
from karma_pipelines.suggester.corpus import Corpus
from karma_pipelines.suggester.features import Queries
from karma_pipelines.suggester.labelled_queries import _frame, fit_corpus_stats
from karma_pipelines.suggester.model import missing_scores, predict, unused_scores
from karma_pipelines.suggester.ranker import Ranker
from karma_pipelines.suggester.spec import SuggesterSpec
from karma_pipelines.suggester.stats import CorpusStats


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
        support, others = int(row["type_support"]), int(row["n_type"])
        if support < others:
            parts.append(f"set by only {support} of {others} other {ctype} configs")
        elif others == 1:
            parts.append(f"set by the other {ctype} config")
        else:
            parts.append(f"set by all {others} other {ctype} configs")
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
    ranker: Ranker | None = None,
) -> tuple[pd.DataFrame, CorpusStats]:
    """Every candidate (absent) and every present field of `corpus` (or of `rows`), scored: one frame
    with `missing_score` (absent fields: the model's score blended with the baseline's as `ranker`
    says, the model alone without one), `unused_score` (present fields), and for absent fields the
    suggestion they are part of (`group`: the root of a missing subtree, `leaves` under it);
    statistics of `corpus`."""
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
    frame["baseline"] = baseline_scores(frame)
    blended = p if ranker is None else ranker.blend(p, frame["baseline"].to_numpy())
    frame["missing_score"] = np.where(frame["present"], np.nan, missing_scores(blended, frame, spec))
    frame["unused_score"] = np.where(frame["present"], unused_scores(p, frame, spec), np.nan)
    group, leaves = subtree_groups(stats, enc, q.row, q.fid)
    frame["group"] = np.where(q.present, q.fid, group)
    frame["leaves"] = np.where(q.present, 1, leaves)
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
    and `unused` (present fields scoring at least the unused threshold), each with a reason. With
    `code`, the unused side of a type with code evidence is what its Terraform never reads
    (`code_unused`). Field names only: no value of any config is read or returned."""
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
    ranker = getattr(run_or_booster, "ranker", None)
    frame, stats = score_corpus(booster, corpus, spec, code, rows, ranker)
    names, types = stats.vocab.names, stats.type_names
    present = frame["present"].to_numpy()
    missing = ~present & (frame["missing_score"].to_numpy() >= missing_threshold)
    unused = present & (frame["unused_score"].to_numpy() >= unused_threshold)
    picked, vocab = [], np.asarray(names, dtype=object)
    for mask, column in ((missing, "missing_score"), (unused, "unused_score")):
        part = frame[mask].sort_values(["row", column, "field"], ascending=[True, False, True], kind="stable")
        part = part.drop_duplicates(["row", "group"])  # a missing subtree once, at its root (best leaf)
        part = part[part.groupby("row").cumcount() < top]
        explain = _missing_reason if column == "missing_score" else _unused_reason
        reasons = [
            _subtree(r, explain(r, r["component_type"], names, types)) for r in part.to_dict("records")
        ]
        picked.append(
            pd.DataFrame(
                {"row": part["row"].to_numpy(), "field": vocab[part["group"].to_numpy()],
                 "score": part[column].round(4).to_numpy(), "reason": reasons}
            )
        )  # fmt: skip
    configs = corpus.configs
    by_row = [_by_row(p) for p in picked]
    if code is not None:
        by_row[1] = _code_unused(by_row[1], corpus, code, rows, top)
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


def _code_unused(model: dict, corpus: Corpus, code: CodeEvidence, rows, top: int) -> dict:
    """The unused side with code evidence: what the Terraform never reads (`code_unused`)."""
    from karma_pipelines.suggester.code_unused import with_code_unused

    return with_code_unused(model, corpus, code, rows, top)


def _subtree(row: dict, reason: str) -> str:
    if row["leaves"] < 2:
        return reason
    n, best = int(row["leaves"]), row["field"]
    return f"missing subtree: {n} fields under it are candidates, best `{best}`: {reason}"


def _by_row(part: pd.DataFrame) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {}
    for rec in part.to_dict("records"):
        row = rec.pop("row")
        rec["score"] = float(rec["score"])
        out.setdefault(int(row), []).append(rec)
    return out
