"""What `karma-pipelines suggest` needs around the library: a corpus from a repository or a folder,
one extra config file in it, and the champion from the registry."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from karma_pipelines.sources.git.layout import DEFAULT_ENV, DEFAULT_TYPE, ConfigFile, Layouts
from karma_pipelines.sources.git.parse import read_config_file
from karma_pipelines.suggester.corpus import (
    Corpus,
    corpus_from_configs,
    corpus_from_folder,
    corpus_from_repo,
    make_corpus,
)

SUGGESTER = "karma-config-field-suggester"


def _config_file(path: Path, layout: Layouts) -> tuple[str, ConfigFile]:
    """(the longest suffix of `path` a layout matches, what the layouts make of it), as the Git
    source and the folder corpus would; `component/<file stem>` in `default` when no suffix matches."""
    parts = Path(path).resolve().parts[1:]  # without the root `/`
    for start in range(len(parts)):
        found = layout.match("/".join(parts[start:]))
        if found is not None:
            return "/".join(parts[start:]), found
    return str(path), ConfigFile(DEFAULT_ENV, DEFAULT_TYPE, Path(path).stem, Path(path).name)


def component_of(path: Path, layout: str | Sequence[str]) -> tuple[str, str]:
    """(component key, environment) of a config file."""
    _, found = _config_file(path, Layouts.of(layout))
    return found.component, found.environment


def with_config(
    corpus: Corpus, path: Path, layout: str | Sequence[str], component: str | None = None
) -> tuple[Corpus, str]:
    """The corpus with the config file at `path` in it (replacing that component's own config);
    returns it and the row key to ask about."""
    compiled = Layouts.of(layout)
    parsed = read_config_file(Path(path).resolve(), str(path))  # a file named by hand: links followed
    if not parsed.ok:
        raise ValueError(f"{path}: a config must be a JSON/YAML object ({parsed.reason})")
    matched, found = _config_file(Path(path), compiled)
    key, env = component or found.component, found.environment
    # Its document as the component's config holds it (keyed by file name for a `*.yaml` layout).
    config = compiled.merge({matched: (found.file_key, parsed.doc)})
    return replace_config(corpus, key, env, config)


def replace_config(corpus: Corpus, key: str, env: str, config: dict) -> tuple[Corpus, str]:
    """The corpus with `config` as component `key`'s in `env` (replacing its own, if any); returns it
    and the row key to ask about."""
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


def load_corpus(repo: str | None, configs: str | None, layout: str | Sequence[str]) -> Corpus:
    corpus = corpus_from_repo(Path(repo), layout) if repo else corpus_from_folder(Path(configs), layout)
    if len(corpus) == 0:
        raise ValueError(f"layout {Layouts.of(layout).key!r} matches no config in {repo or configs}")
    return corpus


def champion(home: Path):
    """(booster, unused threshold) of `models:/karma-config-field-suggester@champion` in `home`."""
    from karma_pipelines.tracking.lightgbm_runs import load_booster
    from karma_pipelines.tracking.registry import CHAMPION, version_by_alias
    from karma_pipelines.tracking.store import MlflowTarget

    target = MlflowTarget.for_home(home)
    version = version_by_alias(target.client(), SUGGESTER, CHAMPION)
    if version is None:
        raise ValueError(f"no models:/{SUGGESTER}@champion in {home}: run the pipeline first")
    params = target.client().get_run(version.run_id).data.params
    return load_booster(target, SUGGESTER, CHAMPION), float(params["suggester.unused_threshold"])


def with_code_report(found: list[dict], code, corpus: Corpus) -> list[str]:
    """`suggest --iac`: each item gets its type's code-evidence report under `code_evidence` (folders,
    files parsed and failed with why, fields read, config roots); returns the report as text lines."""
    from karma_pipelines.suggester.code_report import report_lines, type_report

    types = sorted(set(corpus.configs["component_type"]))
    report = type_report(code, types)
    for item in found:
        item["code_evidence"] = report[item["component_type"]]
    return report_lines(code, types)
