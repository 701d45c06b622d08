"""A YAML text of `key: value` lines and nothing else, read without parsing it: the same mapping.

Most files of a GitOps history are tiny (govuk-helm-charts' image-tag files, thousands of versions:
`image_tag: v1808`, `promote_deployment: true`); a YAML load of one costs its loader's making, tens of
microseconds, for a few lines. `FlatReader.read` reads a text whose every line is a plain key, `: ` and
a plain value, both made of letters, digits and `_ . - /` (starting with a letter, digit or `_`): no
quote, comment, anchor, tag, flow collection, indentation or blank line. Each key and value is typed
as the loader types a plain scalar (its own resolver: `on` is True, `0x1F` 31, `2001-12-14` a date)
and made by the loader's own constructor for that type; a later key wins, in the first one's place, as
in a YAML mapping. Any other text (or type) is None: the caller parses it.
"""

from __future__ import annotations

import re
from typing import Any

from yaml.nodes import ScalarNode

_PLAIN = r"[A-Za-z0-9_][A-Za-z0-9_./-]*"
_LINE = re.compile(f"({_PLAIN}): ({_PLAIN})")
MAX_LINE = 256  # characters (YAML refuses a key over 1024)
_TYPES = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "timestamp")
)
_IMPLICIT = (True, False)  # a plain scalar's: its tag is resolved from its text
MAX_LINES = 64  # a longer text is parsed (it is no longer the tiny file this is for)


class FlatReader:
    """Flat texts read with the scalar types of one loader class (a SafeLoader)."""

    def __init__(self, loader: type) -> None:
        self._loader = loader("")  # its resolver and constructors; no text is read with it

    def read(self, text: str) -> dict[Any, Any] | None:
        """The mapping of `text` (see the module's docstring), or None."""
        lines = text.split("\n")
        if lines[-1] == "":
            lines.pop()
        if not lines or len(lines) > MAX_LINES:
            return None
        doc: dict[Any, Any] = {}
        for line in lines:
            match = _LINE.fullmatch(line) if len(line) <= MAX_LINE else None
            if match is None:
                return None
            key, value = self._scalar(match[1]), self._scalar(match[2])
            if key is _OTHER or value is _OTHER:
                return None
            doc[key] = value
        return doc

    def _scalar(self, text: str) -> Any:
        loader = self._loader
        tag = loader.resolve(ScalarNode, text, _IMPLICIT)
        if tag not in _TYPES:
            return _OTHER
        return loader.yaml_constructors[tag](loader, ScalarNode(tag, text))


_OTHER = object()  # a scalar of a type not read here
