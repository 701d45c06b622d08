"""YAML documents built from their nodes without PyYAML's general machinery, for the usual nodes.

PyYAML's `SafeConstructor` builds every node through `construct_object` (a constructor looked up by
tag, a generator per mapping and sequence, their filling deferred, two bookkeeping dicts): most of a
YAML load once libyaml has parsed the text. `fast(loader)` is the same loader whose documents are
built by direct recursion for what config files are made of (mappings tagged `map`, sequences tagged
`seq`, strings tagged `str`), every other node by `construct_object` itself, and merge keys (`<<`)
and `=` keys by PyYAML's own `flatten_mapping`. An alias names the same object, as in PyYAML.

Wherever the direct way could differ from PyYAML's (a node that contains itself, an error: PyYAML,
which fills collections later, may meet another error first), the text is loaded again by the
loader as it was (`load`, `load_all`): same documents, same errors.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import Any

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

_MAP, _SEQ, _STR = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:str"
_MERGE, _VALUE = "tag:yaml.org,2002:merge", "tag:yaml.org,2002:value"
_MISSING = object()
MAX_TAGS = 1 << 16  # plain scalars whose tag is kept


class _NotFast(Exception):  # noqa: N818 - a signal to `load`, never seen outside this module
    """The direct way cannot tell what PyYAML would make of this document: load it as PyYAML does."""


class _Direct:
    """`construct_document` by direct recursion (mixed in before a PyYAML loader), and the tag of a
    plain scalar resolved once per text."""

    standard: type  # the loader without this mixin
    _tags: dict[str, str]  # plain scalar -> its tag (the loader's implicit resolvers; no path resolvers)

    def resolve(self, kind, value, implicit):
        if kind is not ScalarNode or not implicit[0]:
            return super().resolve(kind, value, implicit)
        tag = self._tags.get(value)
        if tag is None:
            if len(self._tags) >= MAX_TAGS:
                self._tags.clear()
            tag = self._tags[value] = super().resolve(kind, value, implicit)
        return tag

    def construct_document(self, node):
        self._made: dict[Any, Any] = {}  # node -> its object (an alias is the same node)
        self._open: set[int] = set()  # ids of the collection nodes being built
        try:
            return self._build(node)
        except Exception as exc:
            raise _NotFast from exc
        finally:
            self._made, self._open = {}, set()
            self.constructed_objects, self.recursive_objects, self.state_generators = {}, {}, []
            self.deep_construct = False

    def _build(self, node):
        kind, tag = type(node), node.tag
        if kind is ScalarNode and tag == _STR:
            return node.value
        found = self._made.get(node, _MISSING)
        if found is not _MISSING:
            return found
        if kind is MappingNode and tag == _MAP:
            made = self._mapping(node)
        elif kind is SequenceNode and tag == _SEQ:
            self._enter(node)
            made = [self._build(item) for item in node.value]
            self._open.discard(id(node))
        else:
            return self.construct_object(node, deep=True)
        self._made[node] = made
        return made

    def _enter(self, node) -> None:
        if id(node) in self._open:  # it contains itself: PyYAML builds such a value, recursion cannot
            raise _NotFast
        self._open.add(id(node))

    def _mapping(self, node) -> dict:
        self._enter(node)
        if any(key.tag == _MERGE or key.tag == _VALUE for key, _ in node.value):
            self.flatten_mapping(node)  # PyYAML's own, as its `construct_mapping` calls it
        out = {}
        for key_node, value_node in node.value:
            key = self._build(key_node)
            if type(key) is not str and not isinstance(key, Hashable):
                raise _NotFast  # PyYAML's "found unhashable key"
            out[key] = self._build(value_node)
        self._open.discard(id(node))
        return out


_FAST: dict[type, type] = {}


def fast(loader: type) -> type:
    """`loader` (a SafeLoader: its constructors for `map`, `seq` and `str` are SafeConstructor's) whose
    documents are built directly; use it through `load` / `load_all`."""
    found = _FAST.get(loader)
    if found is None:
        safe = yaml.constructor.SafeConstructor
        for tag, name in ((_MAP, "yaml_map"), (_SEQ, "yaml_seq"), (_STR, "yaml_str")):
            if loader.yaml_constructors.get(tag) is not getattr(safe, f"construct_{name}"):
                raise TypeError(f"{loader.__name__} constructs {tag} its own way")
        if loader.yaml_path_resolvers:
            raise TypeError(f"{loader.__name__} resolves tags by path")
        attributes = {"standard": loader, "_tags": {}}
        found = _FAST[loader] = type(f"Direct{loader.__name__}", (_Direct, loader), attributes)
    return found


def load(text: str, loader: type) -> Any:
    """`yaml.load(text, Loader=loader)`: for a `fast` loader the same document (or error)."""
    standard = getattr(loader, "standard", None)
    if standard is None:
        return yaml.load(text, Loader=loader)
    try:
        return yaml.load(text, Loader=loader)
    except _NotFast:
        return yaml.load(text, Loader=standard)


def load_all(text: str, loader: type) -> Iterator[Any]:
    """`yaml.load_all(text, Loader=loader)`, lazily: for a `fast` loader the same documents (or error);
    when one cannot be built directly, the documents after those already given come from the text
    loaded again as PyYAML does."""
    standard = getattr(loader, "standard", None)
    given = 0
    try:
        for doc in yaml.load_all(text, Loader=loader):
            given += 1
            yield doc
        return
    except _NotFast:
        if standard is None:  # pragma: no cover - only a fast loader raises it
            raise
    for n, doc in enumerate(yaml.load_all(text, Loader=standard)):
        if n >= given:
            yield doc
