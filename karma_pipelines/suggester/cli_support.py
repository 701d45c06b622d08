"""What `karma-pipelines suggest` needs around the library: a corpus from a repository or a folder,
one extra config file in it, and the champion from the registry."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from karma_pipelines.suggester.corpus import (
    DEFAULT_ENV,
    Corpus,
    _layout_regex,
    _read_config,
    corpus_from_configs,
    corpus_from_folder,
    corpus_from_snapshots,
    make_corpus,
)

SUGGESTER = "karma-config-field-suggester"


def corpus_from_repo(repo: Path, layout: str, ref: str | None = None) -> Corpus:
    """The latest config of every component in a Git repository's history."""
    from karma_pipelines.sources.git import extract_git_history

    return corpus_from_snapshots(extract_git_history(repo, layout=layout, ref=ref).config_snapshots)


def component_of(path: Path, layout: str) -> tuple[str, str]:
    """(component key, environment) of a config file, from the longest path suffix the layout
    matches; `component/<file stem>` in `default` when none does."""
    pattern = _layout_regex(layout)
    parts = Path(path).resolve().parts
    for start in range(len(parts)):
        match = pattern.match("/".join(parts[start:]))
        if match:
            groups = match.groupdict()
            ctype = groups.get("component_type") or (parts[-3] if len(parts) > 2 else "component")
            return f"{ctype}/{groups['nickname']}", groups.get("env") or DEFAULT_ENV
    return f"component/{Path(path).stem}", DEFAULT_ENV


def with_config(corpus: Corpus, path: Path, layout: str, component: str | None = None) -> tuple[Corpus, str]:
    """The corpus with the config file at `path` in it (replacing that component's own config);
    returns it and the row key to ask about."""
    config = _read_config(Path(path))
    if not isinstance(config, dict):
        raise ValueError(f"{path}: a config must be a JSON/YAML object")
    key, env = component_of(Path(path), layout)
    key = component or key
    extra = corpus_from_configs([{"component": key, "environment": env, "config": config}])
    base = corpus.configs.assign(field_paths=[list(f) for f in corpus.fields])
    keep = ~((base["component"] == key) & (base["environment"] == env))
    new = extra.configs.assign(field_paths=[list(f) for f in extra.fields])
    cols = ["component", "component_type", "environment", "captured_at", "field_paths", "references"]
    merged = make_corpus(
        pd.concat([base.loc[keep, cols], new[cols]], ignore_index=True), source=corpus.source
    )
    row = merged.configs.index[(merged.configs["component"] == key) & (merged.configs["environment"] == env)]
    return merged, str(merged.configs.loc[row[0], "key"])


def load_corpus(repo: str | None, configs: str | None, layout: str) -> Corpus:
    corpus = corpus_from_repo(Path(repo), layout) if repo else corpus_from_folder(Path(configs), layout)
    if len(corpus) == 0:
        raise ValueError(f"layout {layout!r} matches no config in {repo or configs}")
    return corpus


def champion(home: Path):
    """(booster, unused threshold) of `models:/karma-config-field-suggester@champion` in `home`."""
    from karma_pipelines.tracking.lightgbm_runs import load_booster
    from karma_pipelines.tracking.registry import CHAMPION, version_by_alias
    from karma_pipelines.tracking.store import MlflowTarget

    target = MlflowTarget.local(home)
    version = version_by_alias(target.client(), SUGGESTER, CHAMPION)
    if version is None:
        raise ValueError(f"no models:/{SUGGESTER}@champion in {home}: run the pipeline first")
    params = target.client().get_run(version.run_id).data.params
    return load_booster(target, SUGGESTER, CHAMPION), float(params["suggester.unused_threshold"])
