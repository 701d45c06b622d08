"""Navigating python-hcl2's parse trees: identifiers, literals, calls, and what a name is bound to."""

from __future__ import annotations

from typing import NamedTuple

from lark import Token, Tree


class Binding(NamedTuple):
    """What a local, variable or iterator holds: a config path ("" = the whole config)."""

    path: str
    default: bool = False  # the path itself is read with a default
    filtered: bool = False  # a filtered collection (`{for ... if ...}`): reads through it are conditional


def _children(node: Tree) -> list:
    return [c for c in node.children if not (isinstance(c, Tree) and c.data == "new_line_or_comment")]


def _trees(node: Tree) -> list[Tree]:
    return [c for c in _children(node) if isinstance(c, Tree)]


def _name(node) -> str | None:
    """The text of an identifier / keyword / literal node, or of a plain string label."""
    if isinstance(node, Token):
        return str(node)
    if node.data in ("identifier", "keyword", "literal_value"):
        return str(node.children[0])
    if node.data == "string":
        parts = [c for c in node.children if isinstance(c, Tree) and c.data == "string_part"]
        if all(isinstance(p.children[0], Token) and p.children[0].type == "STRING_CHARS" for p in parts):
            return "".join(str(p.children[0]) for p in parts)
    if node.data == "expr_term" and len(_trees(node)) == 1:
        return _name(_trees(node)[0])
    return None


def _line(node) -> int:
    if isinstance(node, Token):
        return int(node.line or 0)
    for tok in node.scan_values(lambda v: isinstance(v, Token)):
        return int(tok.line or 0)
    return 0


def _unwrap(node: Tree) -> Tree:
    """Strip `expr_term` wrappers and parentheses."""
    while isinstance(node, Tree) and node.data == "expr_term":
        inner = _trees(node)
        if len(inner) != 1:
            break
        node = inner[0]
    return node


def _args(call: Tree) -> list[Tree]:
    found = [c for c in _trees(call) if c.data == "arguments"]
    return _trees(found[0]) if found else []


def _call_name(call: Tree) -> str:
    return _name(_trees(call)[0]) or ""


def _join(prefix: str, rest: str) -> str:
    return f"{prefix}.{rest}" if prefix and rest else (prefix or rest)
