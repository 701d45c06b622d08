"""Train the suggester on one corpus and measure it on held-out components: `train_suggester`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd

from karma_pipelines.suggester.code_evidence import CodeEvidence
from karma_pipelines.suggester.corpus import Corpus
from karma_pipelines.suggester.eval_masked import MaskedCases, masked_cases, masked_table, summarize_ranks
from karma_pipelines.suggester.eval_unused import UnusedCases, holdout_metrics, unused_cases, unused_metrics
from karma_pipelines.suggester.evaluation import component_folds, split_by_component
from karma_pipelines.suggester.features import INPUTS
from karma_pipelines.suggester.labelled_queries import fit_corpus_stats, query_frame
from karma_pipelines.suggester.model import fit_suggester, predict
from karma_pipelines.suggester.ranker import Ranker
from karma_pipelines.suggester.spec import SuggesterSpec, load_suggester_spec
from karma_pipelines.suggester.stats import encode

ID_COLUMN = "query_id"


@dataclass
class Holdout:
    """What any booster can be re-scored on (the champion, in the promotion gate)."""

    cases: MaskedCases
    unused: UnusedCases
    frame: pd.DataFrame  # labelled queries of the held-out configs


@dataclass
class SuggesterRun:
    """A trained suggester, its held-out measurements and the baseline's on the same cases."""

    booster: lgb.Booster
    spec: SuggesterSpec
    code: CodeEvidence | None
    unused_threshold: float
    baseline_threshold: float
    metrics: dict[str, dict[str, float]]  # masked, unused, holdout, validation (the model)
    baseline_metrics: dict[str, dict[str, float]]  # masked, unused (the baseline)
    tables: dict[str, pd.DataFrame]
    train_frame: pd.DataFrame
    test_frame: pd.DataFrame
    train_components: list[str]
    test_components: list[str]
    holdout: Holdout | None = field(default=None, repr=False)
    ranker: Ranker = field(default_factory=Ranker)  # missing fields: model, baseline or a blend (by CV)

    @property
    def best_iteration(self) -> int:
        return int(self.booster.best_iteration or self.booster.current_iteration())

    @property
    def gate_metrics(self) -> dict[str, float]:
        """Flat held-out metrics the promotion gate compares (primary: optional_hit_at_5)."""
        return flat_gate_metrics(self.metrics)

    def score_booster(self, booster: lgb.Booster) -> dict[str, float]:
        """The same held-out metrics for another booster (its features must be ones this run builds)."""
        if self.holdout is None:
            raise ValueError("this run kept no holdout to score on")
        missing = [f for f in booster.feature_name() if f not in INPUTS]
        if missing:
            raise ValueError(f"the booster needs features the suggester does not build: {missing}")
        metrics = _measure(
            booster, self.holdout, self.spec, self.unused_threshold, self.baseline_threshold, self.ranker
        )[0]
        return flat_gate_metrics(metrics)


def flat_gate_metrics(metrics: dict[str, dict[str, float]]) -> dict[str, float]:
    out = dict(metrics.get("masked", {}))
    out.update({f"unused_{k}": v for k, v in metrics.get("unused", {}).items()})
    holdout = metrics.get("holdout", {})
    out["pr_auc"] = holdout.get("pr_auc", float("nan"))
    out["roc_auc"] = holdout.get("roc_auc", float("nan"))
    return out


def _measure(
    booster: lgb.Booster,
    holdout: Holdout,
    spec: SuggesterSpec,
    threshold: float,
    baseline_threshold: float,
    ranker: Ranker | None = None,
) -> tuple[dict, dict, pd.DataFrame]:
    cases, unused = holdout.cases, holdout.unused
    p_masked = predict(booster, cases.candidates) if len(cases.candidates) else np.zeros(0)
    ranks = masked_table(cases, p_masked, spec, ranker)
    p_unused = predict(booster, unused.frame) if len(unused.frame) else np.zeros(0)
    model_unused, base_unused = unused_metrics(unused, p_unused, spec, threshold, baseline_threshold)
    p_holdout = predict(booster, holdout.frame) if len(holdout.frame) else np.zeros(0)
    model = {
        "masked": summarize_ranks(ranks, "model_"),
        "unused": model_unused,
        "holdout": holdout_metrics(holdout.frame, p_holdout),
    }
    baseline = {"masked": summarize_ranks(ranks, "baseline_"), "unused": base_unused}
    return model, baseline, ranks


def _unused_table(unused: UnusedCases, p: np.ndarray, spec: SuggesterSpec) -> pd.DataFrame:
    from karma_pipelines.suggester.baseline import baseline_scores
    from karma_pipelines.suggester.model import unused_scores

    frame = unused.frame
    return pd.DataFrame(
        {
            "key": frame["key"].str.replace(r"#eval\d+$", "", regex=True),
            "component_type": frame["component_type"],
            "field": frame["field"],
            "kind": frame["kind"],
            "injected": frame["injected"],
            "model_unused_score": unused_scores(p, frame, spec),
            "baseline_unused_score": 1.0 - baseline_scores(frame),
        }
    )


def evaluate_holdout(
    booster_fit,
    full: Corpus,
    train_rows: np.ndarray,
    test_rows: np.ndarray,
    spec: SuggesterSpec,
    code: CodeEvidence | None,
) -> tuple[Holdout, dict, dict, pd.DataFrame]:
    train, test = full.subset(train_rows), full.subset(test_rows)
    stats = fit_corpus_stats(train, spec)
    cases = masked_cases(stats, full, test, spec, code, seed=spec.seed)
    unused = unused_cases(stats, full, test, spec, code, seed=spec.seed)
    rng = np.random.default_rng(spec.seed + 7)
    tenc = encode(test, stats.vocab)
    frame = query_frame(stats, tenc, np.arange(len(test)), spec, code, rng).frame
    holdout = Holdout(cases, unused, frame)
    model, baseline, ranks = _measure(
        booster_fit.booster,
        holdout,
        spec,
        booster_fit.unused_threshold,
        booster_fit.baseline_threshold,
        booster_fit.ranker,
    )
    return holdout, model, baseline, ranks


def train_suggester(
    corpus: Corpus,
    spec: SuggesterSpec | None = None,
    code: CodeEvidence | None = None,
    split: tuple[np.ndarray, np.ndarray] | None = None,
) -> SuggesterRun:
    """Fit on the training components and measure on the held-out ones (split by component)."""
    spec = spec or load_suggester_spec()
    train_rows, test_rows = split or split_by_component(corpus, spec.test_fraction, spec.seed)
    fitted = fit_suggester(corpus.subset(train_rows), spec, code)
    holdout, model, baseline, ranks = evaluate_holdout(fitted, corpus, train_rows, test_rows, spec, code)
    model["validation"] = fitted.validation_metrics
    tables = {
        "masked_field_ranks": ranks,
        "unused_detection": _unused_table(holdout.unused, predict(fitted.booster, holdout.unused.frame), spec)
        if len(holdout.unused.frame)
        else pd.DataFrame(),
        "feature_importance": fitted.importance,
        "model_vs_baseline": comparison_table(model, baseline),
    }
    if code is not None:
        tables["code_evidence"] = pd.DataFrame(code.table())
    configs = corpus.configs
    return SuggesterRun(
        booster=fitted.booster,
        spec=spec,
        code=code,
        unused_threshold=fitted.unused_threshold,
        baseline_threshold=fitted.baseline_threshold,
        metrics=model,
        baseline_metrics=baseline,
        tables=tables,
        train_frame=_with_id(fitted.train_frame),
        test_frame=_with_id(holdout.frame),
        train_components=sorted(set(configs["component"].iloc[train_rows])),
        test_components=sorted(set(configs["component"].iloc[test_rows])),
        holdout=holdout,
        ranker=fitted.ranker,
    )


def _with_id(frame: pd.DataFrame) -> pd.DataFrame:
    """Query frames as logged: an id of names only (`<key>|<field>`), the features and the label."""
    out = frame[list(INPUTS)].copy()
    out.insert(0, ID_COLUMN, (frame["key"].astype(str) + "|" + frame["field"].astype(str)).to_numpy())
    out["belongs"] = frame["label"].to_numpy()
    out["kind"] = frame["kind"].to_numpy()
    return out.reset_index(drop=True)


def comparison_table(model: dict, baseline: dict) -> pd.DataFrame:
    rows = []
    for section in ("masked", "unused"):
        for key, value in model.get(section, {}).items():
            if key in baseline.get(section, {}):
                rows.append(
                    {"section": section, "metric": key, "model": value, "baseline": baseline[section][key]}
                )
    return pd.DataFrame(rows, columns=["section", "metric", "model", "baseline"])


def cross_validate(
    corpus: Corpus,
    spec: SuggesterSpec | None = None,
    code: CodeEvidence | None = None,
    folds: int = 4,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """K-fold by component: every component is held out once; cases are pooled over folds."""
    spec = spec or load_suggester_spec()
    ranks, unused_tables, holdouts, thresholds = [], [], [], []
    for k, (train_rows, test_rows) in enumerate(component_folds(corpus, folds, spec.seed)):
        fitted = fit_suggester(corpus.subset(train_rows), spec, code)
        holdout, _, _, table = evaluate_holdout(fitted, corpus, train_rows, test_rows, spec, code)
        ranks.append(table.assign(fold=k))
        p = predict(fitted.booster, holdout.unused.frame)
        unused_tables.append(
            _unused_table(holdout.unused, p, spec).assign(
                fold=k, model_threshold=fitted.unused_threshold, baseline_threshold=fitted.baseline_threshold
            )
        )
        holdouts.append(holdout_metrics(holdout.frame, predict(fitted.booster, holdout.frame)))
        thresholds.append(fitted.unused_threshold)
        if progress:
            progress(f"fold {k + 1}/{folds}: {len(table)} masked cases")
    ranks_all = pd.concat(ranks, ignore_index=True)
    unused_all = pd.concat(unused_tables, ignore_index=True)
    from karma_pipelines.suggester.eval_unused import detection_metrics

    labels = unused_all["injected"].to_numpy()
    model_unused = detection_metrics(
        unused_all["model_unused_score"].to_numpy() - unused_all["model_threshold"].to_numpy() + 0.5,
        labels,
        0.5,
    )
    base_unused = detection_metrics(
        unused_all["baseline_unused_score"].to_numpy() - unused_all["baseline_threshold"].to_numpy() + 0.5,
        labels,
        0.5,
    )
    for m, column in ((model_unused, "model_unused_score"), (base_unused, "baseline_unused_score")):
        from sklearn.metrics import roc_auc_score

        m["roc_auc"] = float(roc_auc_score(labels, unused_all[column]))  # pooled raw scores
        m["threshold"] = float("nan")
    return {
        "model": {"masked": summarize_ranks(ranks_all, "model_"), "unused": model_unused},
        "baseline": {"masked": summarize_ranks(ranks_all, "baseline_"), "unused": base_unused},
        "holdout": {k: float(np.nanmean([h[k] for h in holdouts])) for k in ("roc_auc", "pr_auc")},
        "thresholds": thresholds,
        "ranks": ranks_all,
        "unused_table": unused_all,
    }
