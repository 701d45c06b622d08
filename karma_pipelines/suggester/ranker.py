"""Which ranker the suggester uses for missing fields on the corpus at hand: the LightGBM model, the
association-rule baseline, or a blend of the two, chosen by cross-validation by component.

The model already reads the baseline's score as a feature (`baseline_score`); the blend is there for
corpora where the rules are strong and the model, trained self-supervised on few configs, is not
better than them. `choose_ranker` hides optional fields of the corpus's configs (leave-one-out
statistics), scores them with boosters trained on the other folds' components and keeps the weight
with the best Hit@5 + MRR: the baseline unless something beats it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd

from karma_pipelines.suggester.code_evidence import CodeEvidence
from karma_pipelines.suggester.corpus import Corpus
from karma_pipelines.suggester.spec import SuggesterSpec
from karma_pipelines.suggester.stats import CorpusStats

CASES = 200  # hidden fields wanted for the choice (up to 5 per config on small corpora)
OPTIONAL_SHARE = 0.9  # the cases: fields set by at least `min_field_configs` and fewer than 90% of configs


def _label(weight: float) -> str:
    return "baseline" if weight == 0.0 else "model" if weight == 1.0 else f"blend_{weight:g}"


@dataclass
class Ranker:
    """Missing-field score = weight * model + (1 - weight) * baseline (before code evidence)."""

    weight: float = 1.0
    reason: str = "the model alone (no cross-validation ran)"
    cv: dict[str, dict[str, float]] = field(default_factory=dict)  # candidate -> hit_at_1, hit_at_5, mrr
    folds: int = 0
    cases: int = 0

    @property
    def name(self) -> str:
        return "baseline" if self.weight == 0.0 else "model" if self.weight == 1.0 else "blend"

    def blend(self, model: np.ndarray, baseline: np.ndarray) -> np.ndarray:
        if self.weight == 1.0:
            return np.asarray(model, dtype=np.float64)
        return self.weight * np.asarray(model, dtype=np.float64) + (1.0 - self.weight) * np.asarray(baseline)

    def describe(self) -> dict:
        """What `suggest` and `suggest-eval` print: the choice, why, and the figures it was chosen on."""
        return {
            "name": self.name,
            "model_weight": self.weight,
            "reason": self.reason,
            "cv_folds": self.folds,
            "cv_cases": self.cases,
            "cv": {k: {m: round(v, 4) for m, v in d.items()} for k, d in self.cv.items()},
        }


def _fold_of(components: np.ndarray, folds: int, seed: int) -> dict[str, int]:
    names = np.array(sorted(set(components)))
    order = np.random.default_rng(seed).permutation(len(names))
    return dict(zip(names[order], np.arange(len(names)) % folds, strict=True))


def choose_ranker(
    frame: pd.DataFrame,
    corpus: Corpus,
    stats: CorpusStats,
    spec: SuggesterSpec,
    code: CodeEvidence | None,
    rounds: int,
    rng: np.random.Generator,
) -> Ranker:
    """Cross-validate model, baseline and blends (`spec.ranker_weights`) on `corpus` (the corpus the
    training `frame` was built from, `stats` its statistics), folds by component."""
    from karma_pipelines.suggester.baseline import baseline_scores
    from karma_pipelines.suggester.eval_masked import group_ranks, masked_cases
    from karma_pipelines.suggester.model import missing_scores

    components = corpus.configs["component"].to_numpy()
    n_components = len(set(components))
    folds = min(spec.ranker_folds, n_components)
    if folds < 2:
        return Ranker(0.0, f"baseline: {n_components} component(s), too few to cross-validate")
    rows = np.arange(len(corpus))
    if len(rows) > spec.ranker_max_configs:
        rows = np.sort(rng.choice(rows, spec.ranker_max_configs, replace=False))
    seed = int(rng.integers(1 << 31))
    per_config = int(np.clip(CASES // len(rows), 1, 5))  # a few per config on small corpora, else one
    # Small corpora: fields set by 3 configs already count (the protocol's 5 leave few to hide).
    loose = spec.model_copy(update={"min_field_configs": min(spec.min_field_configs, 3)})
    cases = masked_cases(
        stats, corpus, corpus.subset(rows), loose, code, max_cases=spec.ranker_max_cases, seed=seed,
        per_config=per_config, max_share=OPTIONAL_SHARE, keep_keys=True,
    )  # fmt: skip
    n_cases = len(cases.cases)
    if n_cases == 0:
        return Ranker(0.0, "baseline: no optional field to hide in this corpus, nothing to choose on")
    fold_of = _fold_of(components, folds, seed)
    if len(frame) > spec.ranker_max_rows:  # the boosters of the choice learn from a sample of the rows
        frame = frame.iloc[np.sort(rng.choice(len(frame), spec.ranker_max_rows, replace=False))]
    rounds = min(rounds, spec.ranker_max_rounds)
    frame_fold = pd.Series(components[frame["row"].to_numpy()]).map(fold_of).to_numpy()
    case_fold = cases.cases["component"].map(fold_of).to_numpy()
    cand = cases.candidates
    cand_fold = case_fold[cand["case"].to_numpy()]
    p = np.zeros(len(cand))
    features = list(spec.features)
    for k in range(folds):
        train = frame[frame_fold != k]
        at = cand_fold == k
        if not at.any() or train["label"].nunique() < 2:
            continue
        booster = lgb.train(
            spec.params, lgb.Dataset(train[features], label=train["label"].to_numpy()), num_boost_round=rounds
        )
        p[at] = booster.predict(cand.loc[at, features])
    base = baseline_scores(cand)
    cv: dict[str, dict[str, float]] = {}
    for weight in spec.ranker_weights:
        blended = Ranker(weight).blend(p, base)
        ranks = group_ranks(cand, np.asarray(missing_scores(blended, cand, spec), dtype=np.float64), n_cases)
        cv[_label(weight)] = {
            "hit_at_1": float(ranks["hit_at_1"].mean()),
            "hit_at_5": float(ranks["hit_at_5"].mean()),
            "mrr": float(ranks["rr"].mean()),
        }
    goal = {k: v["hit_at_5"] + v["mrr"] for k, v in cv.items()}
    best_weight = max(spec.ranker_weights, key=lambda w: (goal[_label(w)], -abs(w - 0.5)))
    best, base_goal = _label(best_weight), goal.get("baseline", -np.inf)
    figures = f"Hit@5 {cv[best]['hit_at_5']:.3f}, MRR {cv[best]['mrr']:.3f}"
    if "baseline" in cv and goal[best] - base_goal <= spec.ranker_min_gain:
        b = cv["baseline"]
        return Ranker(
            0.0,
            f"baseline: nothing beat it in {folds}-fold cross-validation by component on {n_cases} hidden "
            f"fields (baseline Hit@5 {b['hit_at_5']:.3f}, MRR {b['mrr']:.3f}; best other {best}: {figures})",
            cv, folds, n_cases,
        )  # fmt: skip
    vs = ""
    if "baseline" in cv:
        vs = (
            f" against the baseline's Hit@5 {cv['baseline']['hit_at_5']:.3f}, MRR {cv['baseline']['mrr']:.3f}"
        )
    return Ranker(
        best_weight,
        f"{best}: best in {folds}-fold cross-validation by component on {n_cases} hidden fields "
        f"({figures}{vs})",
        cv, folds, n_cases,
    )  # fmt: skip
