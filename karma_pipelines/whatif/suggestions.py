"""What the config-field suggester says of a proposed config: the corpus of the latest configs before
the change, with the proposed config in place of the component's, ranked by the champion suggester
(or one trained on that corpus when the store has none). Field names only, never values."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from karma_pipelines.suggester.cli_support import replace_config
from karma_pipelines.suggester.corpus import corpus_from_snapshots


@dataclass
class FieldSuggester:
    model: Any  # a booster (the champion) or a fitted suggester
    unused_threshold: float | None = None
    top: int = 5
    origin: str = "champion"

    @classmethod
    def champion(cls, home: Path) -> FieldSuggester:
        from karma_pipelines.suggester.cli_support import champion

        booster, threshold = champion(Path(home))
        return cls(booster, threshold, origin="models:/karma-config-field-suggester@champion")

    @classmethod
    def trained(cls, snapshots: pd.DataFrame) -> FieldSuggester:
        from karma_pipelines.suggester import fit_suggester, load_suggester_spec

        fitted = fit_suggester(corpus_from_snapshots(snapshots), load_suggester_spec())
        return cls(fitted, None, origin="trained on the history's latest configs")

    def of(self, snapshots: pd.DataFrame, component: str, env: str, config: dict, at) -> dict:
        """`{"missing": [{"field", "score", "reason"}], "unused": [...]}` of `config` as `component`."""
        from karma_pipelines.suggester import load_suggester_spec, suggest

        corpus = corpus_from_snapshots(snapshots[snapshots["captured_at"] < at])
        corpus, key = replace_config(corpus, component, env, config)
        found = suggest(
            self.model,
            corpus,
            key,
            self.top,
            spec=load_suggester_spec(),
            unused_threshold=self.unused_threshold,
        )
        item = found[0] if found else {"missing": [], "unused": []}
        return {"missing": item["missing"], "unused": item["unused"]}
