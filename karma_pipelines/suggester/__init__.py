"""The config-field suggester (issue #5): for a component's config, which fields it probably misses
and which it sets but are probably unused, ranked, with a reason. Library code only (no Dagster).

    corpus = corpus_from_snapshots(config_snapshots)          # or corpus_from_repo / _folder(path, layout)
    code = read_code_evidence(iac_dir)                         # optional: what the Terraform reads
    run = train_suggester(corpus, load_suggester_spec(), code) # booster + held-out metrics vs baseline
    suggest(run, corpus, component="vpc/net-dev", top=5)       # [{"component", "missing", "unused"}]
"""

from karma_pipelines.suggester.code_evidence import CodeEvidence, read_code_evidence
from karma_pipelines.suggester.corpus import (
    Corpus,
    corpus_from_configs,
    corpus_from_folder,
    corpus_from_repo,
    corpus_from_snapshots,
)
from karma_pipelines.suggester.model import FittedSuggester, fit_suggester
from karma_pipelines.suggester.run import SuggesterRun, cross_validate, train_suggester
from karma_pipelines.suggester.spec import SuggesterSpec, load_suggester_spec
from karma_pipelines.suggester.suggestions import score_corpus, suggest

__all__ = [
    "CodeEvidence",
    "Corpus",
    "FittedSuggester",
    "SuggesterRun",
    "SuggesterSpec",
    "corpus_from_configs",
    "corpus_from_folder",
    "corpus_from_repo",
    "corpus_from_snapshots",
    "cross_validate",
    "fit_suggester",
    "load_suggester_spec",
    "read_code_evidence",
    "score_corpus",
    "suggest",
    "train_suggester",
]
