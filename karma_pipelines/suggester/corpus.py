"""The corpus: the latest config of every component, as field NAMES (never values), with its type,
environment, service (its twins in other environments) and dependency-graph neighbours.

Read from `config_snapshots`, a Git repository's history (`corpus_from_repo`) or a plain folder
(`corpus_from_folder`). Both readers use the Git source's layout matcher (`sources/git/layout.py`)
and config parser (`sources/git/parse.py`), so a repository and a checkout of it give one corpus.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from karma_pipelines.contracts.config_fields import flatten
from karma_pipelines.contracts.dependencies import references as config_references
from karma_pipelines.sources.git.layout import DEFAULT_ENV, DEFAULT_LAYOUT, ConfigFile, Layouts, path_text
from karma_pipelines.sources.git.parse import DEFAULT_MAX_FILE_BYTES, Parsed, read_config_file

# Nickname tokens that name an environment or one half of a blue/green pair, not the service.
ENV_TOKENS = frozenset(
    {"dev", "development", "staging", "stage", "stg", "prod", "production", "prd", "qa", "test", "uat",
     "sandbox", "preprod", "live"}
)  # fmt: skip
PAIR_TOKENS = frozenset({"a", "b", "blue", "green"})


def service_stem(nickname: str, environment: str) -> str:
    """`catalog-worker-dev` -> `catalog-worker`; `usekarma-prod-b` -> `usekarma`."""
    tokens = [t for t in re.split(r"[-_.]", nickname) if t]
    kept = [t for t in tokens if t.lower() not in ENV_TOKENS and t.lower() != environment.lower()]
    while len(kept) > 1 and kept[-1].lower() in PAIR_TOKENS:
        kept.pop()
    return "-".join(kept) or nickname


@dataclass(frozen=True)
class Corpus:
    """One row per component config. `fields[i]` are row i's flattened dotted paths, sorted.

    `configs` columns: key (unique row id), component, component_type, nickname, environment,
    captured_at, group (`<type>/<service stem>`: rows of one group are twins), references (component
    keys it depends on), context (pseudo-fields `@env:`, `@up:<type>`, `@down:<type>`), n_fields.
    """

    configs: pd.DataFrame
    fields: tuple[tuple[str, ...], ...]
    source: str = ""
    skipped: list[str] = field(default_factory=list)  # files refused (folder corpora): see parse.py
    refused: dict[str, str] = field(default_factory=dict)  # skipped file -> why (`suggest` reports it)

    def __len__(self) -> int:
        return len(self.fields)

    @property
    def types(self) -> np.ndarray:
        return self.configs["component_type"].to_numpy()

    def subset(self, rows: Sequence[int] | np.ndarray) -> Corpus:
        rows = np.asarray(rows, dtype=np.int64)
        return Corpus(
            self.configs.iloc[rows].reset_index(drop=True),
            tuple(self.fields[i] for i in rows),
            self.source,
            list(self.skipped),
            dict(self.refused),
        )

    def with_fields(self, fields: Sequence[Iterable[str]]) -> Corpus:
        """The same components with other field lists (for masking and injection in evaluation)."""
        new = tuple(tuple(sorted(set(f))) for f in fields)
        if len(new) != len(self):
            raise ValueError("with_fields: one field list per config is needed")
        configs = self.configs.assign(n_fields=[len(f) for f in new])
        return Corpus(configs, new, self.source, list(self.skipped), dict(self.refused))

    def row_of(self, component: str) -> list[int]:
        """Rows whose key or component is `component`."""
        hits = (self.configs["key"] == component) | (self.configs["component"] == component)
        return list(np.flatnonzero(hits.to_numpy()))


def _context_tokens(frame: pd.DataFrame) -> list[tuple[str, ...]]:
    consumers: dict[str, set[str]] = {}
    for ctype, refs in zip(frame["component_type"], frame["references"], strict=True):
        for ref in refs:
            consumers.setdefault(ref, set()).add(ctype)
    out = []
    for comp, env, refs in zip(frame["component"], frame["environment"], frame["references"], strict=True):
        up = {f"@up:{r.partition('/')[0]}" for r in refs if "/" in r}
        down = {f"@down:{t}" for t in consumers.get(comp, ())}
        out.append(tuple(sorted({f"@env:{env}", *up, *down})))
    return out


def make_corpus(
    rows: pd.DataFrame, source: str = "", skipped: list[str] | None = None, refused: dict | None = None
) -> Corpus:
    """A corpus from rows with component, component_type, environment, field_paths, references
    (captured_at and nickname optional). Rows without any field are dropped (deleted components)."""
    frame = rows.copy()
    keep = frame["field_paths"].map(lambda f: f is not None and len(f) > 0).astype(bool)
    frame = frame.loc[keep].reset_index(drop=True)
    if "nickname" not in frame:
        frame["nickname"] = frame["component"].map(lambda c: c.partition("/")[2])
    if "captured_at" not in frame:
        frame["captured_at"] = pd.NaT
    frame["environment"] = frame["environment"].fillna(DEFAULT_ENV).astype(str)
    frame["references"] = frame["references"].map(lambda r: tuple(sorted(r)) if r is not None else ())
    duplicated = frame["component"].duplicated(keep=False)
    frame["key"] = np.where(duplicated, frame["component"] + "@" + frame["environment"], frame["component"])
    if frame["key"].duplicated().any():
        dupes = sorted(frame.loc[frame["key"].duplicated(), "key"].unique())[:5]
        raise ValueError(f"corpus: more than one config for {dupes}")
    frame["group"] = [
        f"{t}/{service_stem(n, e)}"
        for t, n, e in zip(frame["component_type"], frame["nickname"], frame["environment"], strict=True)
    ]
    frame["context"] = _context_tokens(frame)
    fields = tuple(tuple(sorted(set(f))) for f in frame["field_paths"])
    frame["n_fields"] = [len(f) for f in fields]
    columns = ["key", "component", "component_type", "nickname", "environment", "captured_at", "group",
               "references", "context", "n_fields"]  # fmt: skip
    return Corpus(
        frame[columns].reset_index(drop=True), fields, source, list(skipped or []), dict(refused or {})
    )


def corpus_from_snapshots(snapshots: pd.DataFrame, as_of: pd.Timestamp | str | None = None) -> Corpus:
    """The latest config per (component, environment) in `config_snapshots` (simulator event log or a
    Git repository), optionally as of a time; components whose latest config is empty are gone."""
    frame = snapshots
    if as_of is not None:
        cutoff = pd.Timestamp(as_of)
        cutoff = cutoff.tz_localize("UTC") if cutoff.tzinfo is None else cutoff
        frame = frame[frame["captured_at"] <= cutoff]
    frame = frame.sort_values(["captured_at", "deploy_id"], kind="stable")
    latest = frame.drop_duplicates(["component", "environment"], keep="last")
    return make_corpus(
        latest[["component", "component_type", "environment", "captured_at", "field_paths", "references"]],
        source="config_snapshots" + (f" as of {as_of}" if as_of is not None else ""),
    )


def corpus_from_configs(items: Iterable[dict[str, Any]], source: str = "configs") -> Corpus:
    """A corpus from dicts with component (`<type>/<nickname>`), environment and config (values are
    read only to flatten the names and find references, then dropped)."""
    rows = []
    for item in items:
        config = item["config"]
        component = item["component"]
        rows.append(
            {
                "component": component,
                "component_type": item.get("component_type") or component.partition("/")[0],
                "environment": item.get("environment", DEFAULT_ENV),
                "captured_at": item.get("captured_at", pd.NaT),
                "field_paths": sorted(flatten(config)) if isinstance(config, dict) else [],
                "references": config_references(config) if isinstance(config, dict) else [],
            }
        )
    frame = pd.DataFrame(
        rows,
        columns=["component", "component_type", "environment", "captured_at", "field_paths", "references"],
    )
    return make_corpus(frame, source=source)


def corpus_from_repo(
    repo: Path | str, layout: str | Sequence[str] = DEFAULT_LAYOUT, ref: str | None = None
) -> Corpus:
    """The latest config of every component in a Git repository's history, through the one path
    (extraction and validation: a snapshot that fails its suite is not in the corpus)."""
    from karma_pipelines.pipeline.tables import load_tables
    from karma_pipelines.records import DEFAULT_HORIZON
    from karma_pipelines.sources.git.source import GitSource

    tables = load_tables(GitSource(Path(repo), layout, ref), DEFAULT_HORIZON)
    return corpus_from_snapshots(tables.config_snapshots)


def corpus_from_folder(
    root: Path | str,
    layout: str | Sequence[str] = DEFAULT_LAYOUT,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> Corpus:
    """The configs under `root` that `layout` matches, read as the Git source reads a commit's files:
    the same components, types and environments (`Layouts.match`), the same documents and refusals
    (`read_config_file`: symlinks, binary, oversized, unparsable files are `skipped`) and one config
    per component from all its files (`Layouts.merge`). `.git` folders are not read."""
    root = Path(root)
    compiled = Layouts.of(layout)
    files = [(rel, m) for rel in _files(root) if (m := compiled.match(rel)) is not None]
    parsed = ((rel, m, read_config_file(root / rel, rel, max_file_bytes)) for rel, m in files)
    return _assemble(compiled, parsed, str(root))


def corpus_from_tree(
    repo: Path | str, layout: str | Sequence[str] = DEFAULT_LAYOUT, ref: str | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> Corpus:  # fmt: skip
    """The configs of a Git repository at the tip of `ref` (default HEAD), read from its tree as
    `corpus_from_folder` reads a checkout of it (the same matcher, parser and refusals: a symlink,
    a submodule, a blob the repository lacks are `skipped`). Faster than the history
    (`corpus_from_repo`) and it needs only the tip's objects."""
    from karma_pipelines.sources.git.blobs import read_blobs
    from karma_pipelines.sources.git.log import find_git_dir, resolve_ref, run_git
    from karma_pipelines.sources.git.parse import Parsed, parse_blob

    git_dir = find_git_dir(Path(repo))
    tip = resolve_ref(Path(repo), ref)
    compiled = Layouts.of(layout)
    listing = run_git(git_dir, "ls-tree", "-r", "-z", "--full-tree", tip).stdout.decode(
        "utf-8", "surrogateescape"
    )
    files, refused = [], []
    for entry in filter(None, listing.split("\0")):
        meta, _, rel = entry.partition("\t")
        mode, kind, sha = meta.split()
        found = compiled.match(rel)
        if found is None:
            continue
        if kind != "blob" or mode == "120000":
            refused.append((rel, found, Parsed(reason=f"{'symlink' if mode == '120000' else kind}({rel})")))
        else:
            files.append((rel, found, sha))
    blobs = read_blobs(git_dir, [sha for _, _, sha in files], max_file_bytes)
    parsed = [
        (rel, found, parse_blob(rel, blob.data, blob.size, max_file_bytes) if blob.size >= 0 else
         Parsed(reason=f"missing_blob({rel})"))
        for (rel, found, _), blob in zip(files, blobs, strict=True)
    ]  # fmt: skip
    return _assemble(compiled, [*parsed, *refused], f"{repo}@{tip[:12]}")


def _assemble(compiled: Layouts, parsed: Iterable[tuple[str, ConfigFile, Parsed]], source: str) -> Corpus:
    """One config per component from its files' documents; the files that did not parse are `skipped`."""
    components: dict[tuple[str, str], dict[str, tuple[ConfigFile, Parsed]]] = {}
    refused = {}
    for rel, config_file, doc in parsed:
        if not doc.ok:
            refused[path_text(rel)] = doc.reason
        components.setdefault(config_file.identity, {})[rel] = (config_file, doc)
    items = []
    for files in components.values():
        config = compiled.merge({rel: (f.file_key, p.doc) for rel, (f, p) in files.items()})
        if config is None:
            continue
        config_file = next(iter(files.values()))[0]
        items.append(
            {
                "component": config_file.component,
                "component_type": config_file.component_type,
                "environment": config_file.environment,
                "config": config,
            }
        )
    corpus = corpus_from_configs(items, source=source)
    return Corpus(
        corpus.configs, corpus.fields, corpus.source, sorted(refused), dict(sorted(refused.items()))
    )


def _files(root: Path) -> list[str]:
    """Every file (and symlink) below `root` as a sorted `/` path relative to it, outside `.git`."""
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git"]
        base = Path(folder).relative_to(root)
        found += [(base / n).as_posix() for n in names]
        found += [(base / d).as_posix() for d in dirs if (Path(folder) / d).is_symlink()]
    return sorted(found)


def merge_corpora(parts: Sequence[Corpus]) -> Corpus:
    """Several corpora as one (a component key must not be in two of them in one environment)."""
    if len(parts) == 1:
        return parts[0]
    cols = ["component", "component_type", "environment", "captured_at", "references"]
    rows = pd.concat(
        [p.configs[cols].assign(field_paths=[list(f) for f in p.fields]) for p in parts], ignore_index=True
    )
    skipped = [s for p in parts for s in p.skipped]
    refused = {k: v for p in parts for k, v in p.refused.items()}
    return make_corpus(rows, source=" + ".join(p.source for p in parts), skipped=skipped, refused=refused)
