"""The corpus: the latest config of every component, as field NAMES (never values), with its type,
environment, service (its twins in other environments) and dependency-graph neighbours."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from karma_pipelines.config_fields import flatten
from karma_pipelines.dependencies import references as config_references

DEFAULT_LAYOUT = "iac/{env}/{component_type}/{nickname}/config.json"
DEFAULT_ENV = "default"
# Nickname tokens that name an environment or one half of a blue/green pair, not the service.
ENV_TOKENS = frozenset(
    {"dev", "development", "staging", "stage", "stg", "prod", "production", "prd", "qa", "test", "uat",
     "sandbox", "preprod", "live"}
)  # fmt: skip
PAIR_TOKENS = frozenset({"a", "b", "blue", "green"})
CONFIG_SUFFIXES = (".json", ".yaml", ".yml")


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
    skipped: list[str] = field(default_factory=list)  # files that could not be read (folder corpora)

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
        )

    def with_fields(self, fields: Sequence[Iterable[str]]) -> Corpus:
        """The same components with other field lists (for masking and injection in evaluation)."""
        new = tuple(tuple(sorted(set(f))) for f in fields)
        if len(new) != len(self):
            raise ValueError("with_fields: one field list per config is needed")
        configs = self.configs.assign(n_fields=[len(f) for f in new])
        return Corpus(configs, new, self.source, list(self.skipped))

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


def make_corpus(rows: pd.DataFrame, source: str = "", skipped: list[str] | None = None) -> Corpus:
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
    return Corpus(frame[columns].reset_index(drop=True), fields, source, list(skipped or []))


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


def _layout_regex(layout: str) -> re.Pattern[str]:
    parts = []
    for token in re.split(r"(\{\w+\}|\*\*/|\*\*|\*|\?)", layout.strip("/")):
        if token in ("{env}", "{component_type}", "{nickname}"):
            parts.append(f"(?P<{token[1:-1]}>[^/]+)")
        elif token.startswith("{"):
            raise ValueError(f"layout {layout!r}: unknown placeholder {token}")
        elif token == "**/":
            parts.append("(?:[^/]+/)*")
        elif token == "**":
            parts.append(".*")
        elif token == "*":
            parts.append("[^/]*")
        elif token == "?":
            parts.append("[^/]")
        else:
            parts.append(re.escape(token))
    if "(?P<nickname>" not in "".join(parts):
        raise ValueError(f"layout {layout!r}: needs a {{nickname}} placeholder")
    return re.compile("^" + "".join(parts) + "$")


def _read_config(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


def corpus_from_folder(root: Path | str, layout: str = DEFAULT_LAYOUT) -> Corpus:
    """Plain JSON/YAML configs under `root` laid out as `layout` (placeholders `{env}`,
    `{component_type}`, `{nickname}`; globs `*`, `?`, `**`). Without `{env}` the environment is
    `default`; without `{component_type}` it is the folder holding the nickname's segment."""
    root = Path(root)
    pattern = _layout_regex(layout)
    items, skipped, seen = [], [], set()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in CONFIG_SUFFIXES):
        rel = path.relative_to(root).as_posix()
        match = pattern.match(rel)
        if not match:
            continue
        groups = match.groupdict()
        nickname = groups["nickname"]
        ctype = groups.get("component_type")
        if not ctype:
            segments = rel.split("/")
            at = next(i for i, s in enumerate(segments) if nickname in s)
            ctype = segments[at - 1] if at > 0 else "component"
        try:
            config = _read_config(path)
        except (ValueError, yaml.YAMLError, UnicodeDecodeError):
            skipped.append(rel)
            continue
        env = groups.get("env") or DEFAULT_ENV
        if not isinstance(config, dict) or (env, f"{ctype}/{nickname}") in seen:
            skipped.append(rel)  # not an object, or a second file for a component already read
            continue
        seen.add((env, f"{ctype}/{nickname}"))
        items.append(
            {
                "component": f"{ctype}/{nickname}",
                "component_type": ctype,
                "environment": env,
                "config": config,
            }
        )
    corpus = corpus_from_configs(items, source=str(root))
    return Corpus(corpus.configs, corpus.fields, corpus.source, skipped)
