"""Turning one config file's bytes into a document, or into the reason it cannot be one.

JSON (`.json`) is read strictly; YAML (`.yaml`, `.yml`) with anchors, aliases and merge keys (`<<:`);
any other extension (or none: `charts/app-config/image-tags/production/router`) is tried as JSON,
then YAML, then, when its first line is a `[section]` header, as an INI / git-config file (Gerrit's
`project.config`: `[access "refs/heads/*"]` then `key = value` lines; a key given several times is
a list of its values, in order; `#` and `;` start comments). A YAML file with several documents becomes one
mapping keyed `doc0`, `doc1`, … (in file order, empty documents skipped) so that its fields stay
dotted paths (`doc1.image.tag`); a list would be a single opaque leaf. An empty YAML file is `{}`.
Every document must be a mapping, or a list of **named** mappings (Zuul's `- job: {name: x, ...}`,
Gerrit's `- project: openstack/nova`): each item is keyed `<first key>:<its name>` (the first key's
`name` when its value is a mapping, else its value; `#2`, `#3` for a repeat; the value is the
item, or the first key's mapping when it is the item's only key), so that one job changed is one
field path changed, not a shifted index; a list of anything else is refused. Keys are made
strings (YAML reads `on:` as `True`, `1:` as `1`).

Budgets, so that no file can take a reader down: at most `MAX_NODES` values once aliases are
expanded (an alias bomb of a few hundred bytes stops at the budget), at most `MAX_DOCUMENTS` YAML documents
(a config file is one document, or a few: a 20,000-document file is refused), and at most
`contracts.config_fields.MAX_FIELDS` leaf fields (`too_many_fields(path)`). `load_text` gives the
same loader and budgets to every other reader of a YAML/JSON file (model specs, `world.json`, the
bench's list of repositories).

The one config parser of the project: a Git blob (`parse_blob`) and a file on disk (`read_config_file`,
for the suggester's folder corpus and `suggest --config`) are refused for the same reasons: symlink,
not a regular file, oversized, binary, parse error.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from karma_pipelines.contracts.config_fields import MAX_FIELDS, loads_json, too_many_fields
from karma_pipelines.sources.git.document_shapes import ini_document, named_items
from karma_pipelines.sources.git.yaml_blocks import BlockCache
from karma_pipelines.sources.git.yaml_construct import fast, load_all
from karma_pipelines.sources.git.yaml_flat import FlatReader

try:  # libyaml's parser is about 10x faster than the pure-Python one
    _YamlLoader: type = yaml.CSafeLoader
    from yaml.cyaml import CParser as _Events
except (AttributeError, ImportError):  # pragma: no cover - PyYAML built without libyaml
    _YamlLoader = yaml.SafeLoader
    _Events = yaml.SafeLoader  # its reader, scanner and parser (its composer is overridden below)


class _RedefiningLoader(
    yaml.composer.Composer, _Events, yaml.constructor.SafeConstructor, yaml.resolver.Resolver
):
    """The safe loader, except that an anchor may be defined again: an alias names the latest node
    with its anchor (YAML 1.2, and the Go parser Helm and Argo CD read values with; govuk-helm-charts'
    `values-integration.yaml` defines `&max-upload-size` twice). libyaml's events, PyYAML's composer."""

    def __init__(self, stream) -> None:
        _Events.__init__(self, stream)
        yaml.composer.Composer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)

    def compose_node(self, parent, index):
        event = self.peek_event()
        if not isinstance(event, yaml.AliasEvent) and event.anchor is not None:
            self.anchors.pop(event.anchor, None)
        return super().compose_node(parent, index)


# The loaders as used: documents built directly where that gives PyYAML's (`yaml_construct`).
_YAML, _REDEFINING = fast(_YamlLoader), fast(_RedefiningLoader)
_FLAT = FlatReader(_YAML)


BINARY_PROBE = 8000  # git's own heuristic: a NUL byte in the first 8000 bytes means binary
SYMLINK_MODE = "120000"
MAX_NODES = 1_000_000
MAX_DOCUMENTS = 100  # YAML documents in one file (`---` between them)
DEFAULT_MAX_FILE_BYTES = 1 << 20
_FEW_BRACKETS = 200  # JSON with fewer `{` and `[` nests less than 200 deep


@dataclass(frozen=True)
class Parsed:
    """A file's document (`doc`), or why it has none (`reason`, a quarantine reason)."""

    doc: Any = None
    reason: str | None = None
    raw_key: str | None = None  # identity of the document as written (the doc itself may be redacted)
    # Made from the block cache's parsed blocks (a big YAML file): its unchanged entries are the same
    # objects as in the file's earlier versions, so work on them is worth keeping (`entry_memo`).
    shared: bool = False

    @property
    def ok(self) -> bool:
        return self.reason is None


def is_binary(data: bytes) -> bool:
    return data.find(b"\x00", 0, BINARY_PROBE) >= 0


def parse_blob(
    path: str,
    data: bytes | None,
    size: int,
    max_bytes: int = DEFAULT_MAX_FILE_BYTES,
    blocks: BlockCache | None = None,
) -> Parsed:
    """A regular file's document, or why not: oversized (`data` None: not read), binary, parse error.
    With `blocks` (`block_cache()`), a big YAML text reuses the blocks parsed in earlier versions."""
    if data is None or size > max_bytes:
        return Parsed(reason=f"oversized({path}): {size} bytes > {max_bytes}")
    if is_binary(data):
        return Parsed(reason=f"binary({path})")
    return parse_config(path, data, blocks)


def block_cache() -> BlockCache:
    """A cache of parsed top-level YAML blocks, for the versions of the files of one history."""
    return BlockCache(_YAML, _string_keys, _REDEFINING)


def read_config_file(file: Path, path: str, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> Parsed:
    """A file on disk read as Git would store it (`path` names it in reasons): a symlink is refused."""
    if file.is_symlink():
        return Parsed(reason=f"symlink({path})")
    if not file.is_file():
        return Parsed(reason=f"not_a_file({path})")
    size = file.stat().st_size
    return parse_blob(path, file.read_bytes() if size <= max_bytes else None, size, max_bytes)


def parse_config(path: str, data: bytes, blocks: BlockCache | None = None) -> Parsed:
    """Parse a regular file's bytes (already checked for size and binary content: see `parse_blob`)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return Parsed(reason=f"parse_error({path}): not UTF-8 text ({exc.reason} at byte {exc.start})")
    kind = parser_of(path)
    shared = False
    # JSON this short cannot have too many fields: each takes a `"name":value` of four characters or more
    few_fields = len(text) < 4 * MAX_FIELDS
    try:
        if kind == "json":
            doc = _json(text)
        elif kind == "yaml":
            doc, shared = _yaml_document(text, blocks)
            few_fields = False  # aliases repeat fields
        else:
            try:
                doc = _json(text)
            except ValueError:
                few_fields = False
                try:
                    doc, shared = _yaml_document(text, blocks)
                except (ValueError, yaml.YAMLError):
                    doc = ini_document(text)
                    if doc is None:
                        raise
    except (ValueError, yaml.YAMLError) as exc:
        return Parsed(reason=f"parse_error({path}): {_message(exc)}")
    except RecursionError:
        return Parsed(reason=f"parse_error({path}): nested too deeply")
    if isinstance(doc, list):
        doc = named_items(doc) or doc
    if not isinstance(doc, dict):
        return Parsed(reason=f"parse_error({path}): top level is {_kind(doc)}, expected a mapping")
    too_big = None if few_fields else too_many_fields(doc)
    if too_big is not None:
        return Parsed(reason=f"too_many_fields({path}): the config {too_big}")
    return Parsed(doc=doc, shared=shared)


@functools.lru_cache(maxsize=1 << 16)  # asked for each change, two or three times
def parser_of(path: str) -> str:
    """Which parser reads the file `path` names: `json`, `yaml` or `other` (JSON, then YAML, then INI);
    the same bytes under names of one kind are the same document."""
    lower = path.lower()
    if lower.endswith(".json"):
        return "json"
    return "yaml" if lower.endswith((".yaml", ".yml")) else "other"


def load_text(text: str, name: str) -> Any:
    """A YAML or JSON file's document (JSON when `name` ends in `.json`) with the config parser's
    budgets (values, documents); ValueError naming `name` when it is not one."""
    try:
        return _json(text) if name.lower().endswith(".json") else _whole(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ValueError(f"{name}: {_message(exc)}") from exc
    except RecursionError as exc:
        raise ValueError(f"{name}: nested too deeply") from exc


def _json(text: str) -> Any:
    doc = loads_json(text)  # orjson where it makes the same objects (and fails as `json` does)
    # JSON keys are strings; a text this short has fewer than MAX_NODES values (each takes a character
    # and a separator), and with this few brackets it nests too little for a RecursionError: the copy
    # `_string_keys` would make is the same document.
    if len(text) < 2 * MAX_NODES and text.count("{") + text.count("[") < _FEW_BRACKETS:
        return doc
    return _string_keys(doc, [MAX_NODES])


def _yaml_document(text: str, blocks: BlockCache | None) -> tuple[Any, bool]:
    """(the document, whether it was made from the block cache's blocks)."""
    doc = blocks.load(text, MAX_NODES) if blocks is not None else None
    if doc is not None:
        return doc, True
    return _whole(text), False


def _whole(text: str) -> Any:
    flat = _FLAT.read(text)  # `key: value` lines: the same mapping, without a YAML load
    if flat is not None:
        return _string_keys(flat, [MAX_NODES])
    try:
        docs = _documents(text, _YAML)
    except yaml.composer.ComposerError:  # an anchor defined again (or an undefined alias: said again)
        docs = _documents(text, _REDEFINING)
    if not docs:
        return {}
    if len(docs) == 1:
        return _string_keys(docs[0], [MAX_NODES])
    bad = [i for i, d in enumerate(docs) if not isinstance(d, dict)]
    if bad:
        raise ValueError(f"document {bad[0]} is {_kind(docs[bad[0]])}, expected a mapping")
    budget = [MAX_NODES]
    return {f"doc{i}": _string_keys(d, budget) for i, d in enumerate(docs)}


def _documents(text: str, loader: type) -> list:
    docs = []
    for n, d in enumerate(load_all(text, loader), 1):  # lazily: stops at the limit
        if n > MAX_DOCUMENTS:
            raise ValueError(
                f"more than {MAX_DOCUMENTS} YAML documents (a config file is one document, or a few)"
            )
        if d is not None:
            docs.append(d)
    return docs


def _string_keys(value: Any, budget: list[int]) -> Any:
    """A copy with string keys; `budget` bounds the nodes, so YAML aliases cannot expand forever."""
    budget[0] -= 1
    if budget[0] < 0:
        raise ValueError(f"more than {MAX_NODES} values (runaway YAML aliases?)")
    if isinstance(value, dict):
        return {_key(k): _string_keys(v, budget) for k, v in value.items()}
    if isinstance(value, list):
        return [_string_keys(v, budget) for v in value]
    return value


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bool) or key is None:
        return json.dumps(key)  # true / false / null, as JSON would spell them
    return str(key)


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return f"a {type(value).__name__}"


def _message(exc: BaseException) -> str:
    """The error without the offending text: a YAML mark quotes the line, which may hold a secret."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return f"{exc.context + '; ' if exc.context else ''}{exc.problem or 'invalid YAML'}{where}"
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno}, column {exc.colno}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
