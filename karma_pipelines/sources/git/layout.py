"""Which files in a repository are component configs, and which component each belongs to.

A layout is a path pattern with the placeholders `{env}`, `{component_type}` and `{nickname}` (each
one path segment, or part of one) and the globs `*` (within a segment), `?` (one character) and `**`
(any number of folders). `{nickname}` is required; a missing `{env}` is `default`, a missing
`{component_type}` is the name of the folder that holds `{nickname}`'s segment (`charts` for
`charts/{nickname}/values.yaml`), or `component` when there is none.

Several layouts are `Layouts`, an ordered list: a path belongs to the FIRST layout that matches it
(`--layout` given several times, or one value with several separated by `;`, as `KARMA_GIT_LAYOUT`
and the Makefile's `LAYOUT` take them). The one matcher of the project: the Git source, the
suggester's folder corpus and `suggest --config` all ask `Layouts.match` which component a path is,
and `Layouts.merge` what the component's config is; `Layouts.looks_like_config` says which paths a
layout leaves out that it perhaps should not (YAML/JSON under the layouts' folders: see coverage.py).

Two layouts may name the same component: `charts/{nickname}/values-{env}.yaml` and
`charts/{nickname}/values.yaml` make `charts/x/values-production.yaml` the component `charts/x` in
`production` and `charts/x/values.yaml` the component `charts/x` in `default` (the chart's base
values, shared by every environment): two components, each with its own deploys, as Helm applies
the base file and then the environment's over it. A component whose files come from several layouts
is keyed by file key (as a wildcard layout's is).

A path that is not UTF-8 (decoded with `surrogateescape`, as git's and the file system's names are)
keeps its raw name as the component's identity (`ConfigFile.identity`): two folders whose names are
different bytes are two components. Every name a `ConfigFile` gives (environment, type, nickname,
file key) is valid text, `path_text`: each undecodable byte written `\\xNN`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_LAYOUT = "iac/{env}/{component_type}/{nickname}/config.json"
DEFAULT_ENV = "default"
DEFAULT_TYPE = "component"
PLACEHOLDERS = ("env", "component_type", "nickname")
_TOKEN = re.compile(r"\{(\w+)\}|\*\*|\*|\?")
SEPARATOR = ";"  # between layouts in one value (KARMA_GIT_LAYOUT, the Makefile's LAYOUT, --layout)
CONFIG_EXTENSIONS = (".yaml", ".yml", ".json")
_UNDECODED = re.compile("[\udc80-\udcff]")  # a byte that was not UTF-8, as `surrogateescape` keeps it


def path_text(name: str) -> str:
    """`name` as valid text for every store (parquet, JSON, MLflow, Dagster metadata): each byte that
    was not UTF-8 (a `surrogateescape` surrogate) written `\\xNN`; a UTF-8 name unchanged."""
    if name.isascii() or _UNDECODED.search(name) is None:  # (an ASCII name has no surrogate)
        return name
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


@dataclass(frozen=True)
class ConfigFile:
    """A path that the layout matches: its component and its name inside the component's config."""

    environment: str
    component_type: str
    nickname: str
    file_key: str  # the file's path below the component's folder (its key in a merged config)
    raw: tuple[str, str] | None = None  # the identity as named, when a name is not UTF-8 text

    @property
    def component(self) -> str:
        return f"{self.component_type}/{self.nickname}"

    @property
    def identity(self) -> tuple[str, str]:
        """(environment, component key): the same key in two environments is two components; a name
        that is not UTF-8 by its raw bytes (two such names never merge)."""
        return self.raw or (self.environment, self.component)


class Layout:
    """A compiled layout: `match(path)` says whether a path is a config file, and of what."""

    def __init__(self, pattern: str):
        self.pattern = pattern
        segments = pattern.strip("/").split("/")
        if not pattern.strip("/") or any(s == "" for s in segments):
            raise ValueError(f"layout {pattern!r}: empty path segment")
        placeholder_segments: dict[str, int] = {}
        for i, segment in enumerate(segments):
            for name in re.findall(r"\{(\w+)\}", segment):
                if name not in PLACEHOLDERS:
                    raise ValueError(
                        f"layout {pattern!r}: unknown placeholder {{{name}}} (use {', '.join(PLACEHOLDERS)})"
                    )
                placeholder_segments.setdefault(name, i)
        if "nickname" not in placeholder_segments:
            raise ValueError(f"layout {pattern!r}: needs a {{nickname}} placeholder")
        last = max(placeholder_segments.values())
        # The component's folder: everything up to the last placeholder's segment when that segment is
        # a folder, else the folder holding the file. File keys are paths below it.
        root = last + 1 if last < len(segments) - 1 else len(segments) - 1
        # A wildcard in the component's own part means one component can have several files.
        self.multi_file = any(_has_glob(s) for s in segments[last:])
        self._regex = re.compile(_to_regex(segments, root=root, nickname=placeholder_segments["nickname"]))
        self._type_from_folder = "component_type" not in placeholder_segments
        # The folder a layout's files are all under: its segments before the first placeholder or glob.
        fixed = []
        for segment in segments[:-1]:
            if "{" in segment or _has_glob(segment):
                break
            fixed.append(segment)
        self.folder = "/".join(fixed)

    def match(self, path: str) -> ConfigFile | None:
        m = self._regex.fullmatch(path)
        if m is None:
            return None
        if self._type_from_folder:
            folder = path[: m.start("_nick_segment")].rstrip("/")
            ctype = folder.rsplit("/", 1)[-1] if folder else DEFAULT_TYPE
        else:
            ctype = m["component_type"]
        env = m["env"] if "env" in self._regex.groupindex else DEFAULT_ENV
        nickname, file_key = m["nickname"], path[m.start("_root") :]
        if _UNDECODED.search(path) is None:
            return ConfigFile(env, ctype, nickname, file_key)
        return ConfigFile(
            path_text(env), path_text(ctype), path_text(nickname), path_text(file_key),
            raw=(env, f"{ctype}/{nickname}"),
        )  # fmt: skip

    def merge(self, files: Mapping[str, tuple[str, Any]]) -> Any:
        """A component's config from its files, `path -> (file_key, document, None when unparsed)`.

        One file's document is the config; with a wildcard in the component's part (or several
        files) the documents are keyed by file key, or by full path when two share a key (a leading
        `**`). None when no file parsed: the config is unknown.
        """
        parsed = [(path, key, doc) for path, (key, doc) in sorted(files.items()) if doc is not None]
        if not parsed:
            return None
        if not self.multi_file and len(files) == 1:
            return parsed[0][2]
        docs = {key: doc for _, key, doc in parsed}
        if len(docs) < len(parsed):
            return {path_text(path): doc for path, _, doc in parsed}
        return docs

    def __repr__(self) -> str:
        return f"Layout({self.pattern!r})"


def _has_glob(segment: str) -> bool:
    return bool(re.search(r"\*|\?", segment))


def _to_regex(segments: list[str], root: int, nickname: int) -> str:
    """The pattern as a regex; empty groups mark where the component's folder and nickname's segment start."""
    out: list[str] = []
    seen: set[str] = set()
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if i == root:
            out.append("(?P<_root>)")
        if i == nickname:
            out.append("(?P<_nick_segment>)")
        if segment == "**":
            out.append(".*" if last else "(?:[^/]+/)*")
            continue
        pos, piece = 0, []
        for m in _TOKEN.finditer(segment):
            piece.append(re.escape(segment[pos : m.start()]))
            token, name = m.group(0), m.group(1)
            if name:
                piece.append(f"(?P={name})" if name in seen else f"(?P<{name}>[^/]+?)")
                seen.add(name)
            elif token == "**" or token == "*":
                piece.append("[^/]*")
            else:
                piece.append("[^/]")
            pos = m.end()
        piece.append(re.escape(segment[pos:]))
        out.append("".join(piece) + ("" if last else "/"))
    return "".join(out)


class Layouts:
    """Ordered layouts: a path is the config file of the FIRST layout that matches it.

    `Layouts.of(spec)` takes a pattern, a `;`-separated list of them, a sequence of either, or a
    `Layout`/`Layouts`. `key` (the patterns joined by `;`) names them in saved state.
    """

    def __init__(self, patterns: Iterable[str]):
        unique: list[str] = []
        for pattern in patterns:
            if pattern not in unique:
                unique.append(pattern)
        if not unique:
            raise ValueError("no layout given")
        self.layouts = tuple(Layout(p) for p in unique)
        self.patterns = tuple(unique)
        self.key = SEPARATOR.join(unique)
        self.folders = tuple(sorted({layout.folder for layout in self.layouts}))
        self._which: dict[str, tuple[int, ConfigFile] | None] = {}

    @classmethod
    def of(cls, spec: str | Iterable[str] | Layout | Layouts | None) -> Layouts:
        if isinstance(spec, Layouts):
            return spec
        if spec is None:
            return cls([DEFAULT_LAYOUT])
        if isinstance(spec, Layout):
            return cls([spec.pattern])
        return cls(split_layouts(spec))

    def which(self, path: str) -> tuple[int, ConfigFile] | None:
        """(index of the first layout that matches `path`, what it makes of it), or None."""
        try:
            return self._which[path]
        except KeyError:
            pass
        found = None
        for i, layout in enumerate(self.layouts):
            config_file = layout.match(path)
            if config_file is not None:
                found = (i, config_file)
                break
        self._which[path] = found
        return found

    def match(self, path: str) -> ConfigFile | None:
        found = self.which(path)
        return found[1] if found is not None else None

    def merge(self, files: Mapping[str, tuple[str, Any]]) -> Any:
        """A component's config from its files (see `Layout.merge`): one layout's files merge as
        that layout merges them; files from several layouts are keyed by file key (by full path
        when two share one). A path no layout matches counts as the first layout's."""
        indexes = {self.which(path)[0] if self.which(path) else 0 for path in files}
        if len(indexes) == 1:
            return self.layouts[indexes.pop()].merge(files)
        parsed = [(path, key, doc) for path, (key, doc) in sorted(files.items()) if doc is not None]
        if not parsed:
            return None
        docs = {key: doc for _, key, doc in parsed}
        if len(docs) < len(parsed):
            return {path_text(path): doc for path, _, doc in parsed}
        return docs

    def looks_like_config(self, path: str) -> bool:
        """A YAML/JSON file (by extension) under one of the layouts' folders: a config file that no
        layout names is left out of the history (coverage.py counts and reports them)."""
        if not path.lower().endswith(CONFIG_EXTENSIONS):
            return False
        return any(not folder or path.startswith(folder + "/") for folder in self.folders)

    def __iter__(self):
        return iter(self.layouts)

    def __len__(self) -> int:
        return len(self.layouts)

    def __repr__(self) -> str:
        return f"Layouts({list(self.patterns)!r})"


def split_layouts(spec: str | Iterable[str]) -> list[str]:
    """The patterns of `spec`: one string with `;` between layouts, or several such strings."""
    items = [spec] if isinstance(spec, str) else list(spec)
    out = [p.strip() for item in items for p in item.split(SEPARATOR)]
    out = [p for p in out if p]
    if not out:
        raise ValueError(f"layout {spec!r}: no pattern given")
    return out
