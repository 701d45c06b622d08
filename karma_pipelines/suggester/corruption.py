"""Corrupt a corpus the way real mistakes spread: a change promoted through a service's environments
drops the same field from every twin, or adds the same stray field to all of them. Training on the
corrupted corpus (labels: the original fields) teaches the model that twins can share a mistake."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from karma_pipelines.suggester.corpus import Corpus
from karma_pipelines.suggester.names import misspell


@dataclass(frozen=True)
class Corruption:
    corpus: Corpus  # the corrupted corpus
    removed: frozenset[tuple[int, str]]  # (row, field) taken out (they belong: label 1)
    added: frozenset[tuple[int, str]]  # (row, field) put in (they do not: label 0)


def corrupt_twins(corpus: Corpus, removals: float, additions: float, rng: np.random.Generator) -> Corruption:
    """For each group of twins (2+ configs of one service), drop a field they share with probability
    `removals`, and add one stray field (another type's field or a misspelling) with `additions`."""
    configs = corpus.configs
    fields = [set(f) for f in corpus.fields]
    by_type: dict[str, set[str]] = {}
    for ctype, names in zip(configs["component_type"], corpus.fields, strict=True):
        by_type.setdefault(ctype, set()).update(names)
    removed: set[tuple[int, str]] = set()
    added: set[tuple[int, str]] = set()
    groups = configs.groupby("group", sort=True).indices
    for group in sorted(groups):
        rows = np.asarray(groups[group])
        if len(rows) < 2:
            continue
        ctype = configs["component_type"].iat[rows[0]]
        if rng.random() < removals:
            shared = sorted(set.intersection(*(fields[r] for r in rows)))
            if shared:
                name = shared[int(rng.integers(len(shared)))]
                for r in rows:
                    fields[r].discard(name)
                    removed.add((int(r), name))
        if rng.random() < additions:
            if rng.random() < 0.5:
                others = sorted(set().union(*(v for t, v in by_type.items() if t != ctype)) - by_type[ctype])
                name = others[int(rng.integers(len(others)))] if others else None
            else:
                own = sorted(set.union(*(fields[r] for r in rows)))
                name = misspell(rng, own[int(rng.integers(len(own)))]) if own else None
            if name and name not in by_type[ctype]:
                for r in rows:
                    fields[r].add(name)
                    added.add((int(r), name))
    return Corruption(corpus.with_fields(fields), frozenset(removed), frozenset(added))
