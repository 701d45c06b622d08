"""Walking HCL expressions for reads of the config (`local.config`, also `local.cfg`):

- `local.config.a.b`, `local.config["a"]`, `local.cfg.a` read `a.b` / `a` (without a default);
- `try(local.config.a, x)`, `lookup(local.config, "a", x)`, `can(local.config.a)` read `a` with one;
- locals that alias part of the config (`fns = try(local.config.functions, {})`) are followed;
- `for_each = local.config.functions` binds `each.value` (and a dynamic block's iterator), and
  `for k, v in local.config.functions` binds `v`, to `functions.*`, so `each.value.runtime` reads
  `functions.*.runtime`;
- a config subtree used as a whole (`tags = local.config.tags`, `jsonencode(local.config.container)`)
  reads everything under it; the whole config used as a value means every field is read.

Reads inside a conditional branch, a block with `count`, or a dynamic block are `conditional`: a
field read there without a default is needed only sometimes, so it is no proof of "missing".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import hcl2
from lark import Token, Tree

from karma_pipelines.suggester.hcl_tree import (
    Binding,
    _args,
    _call_name,
    _join,
    _line,
    _name,
    _trees,
    _unwrap,
)

_SHAPE_PRESERVING = {"tolist", "toset", "tomap", "nonsensitive", "sensitive", "flatten", "values"}
_STRUCTURE_ONLY = {"keys", "length", "can", "type"}
_INTERPOLATION = re.compile(r"\$\{")


@dataclass(frozen=True)
class Read:
    """One place where a type's Terraform reads a config path (`*` = any key or element)."""

    path: str
    has_default: bool
    whole: bool  # the value is used as a whole, so everything under `path` is read
    conditional: bool  # only evaluated sometimes (conditional branch, `count`, dynamic block)
    file: str
    line: int

    @property
    def required(self) -> bool:
        return not self.has_default and not self.conditional


class _ExpressionWalker:
    """Walks expressions, given the locals (and variables) that hold (parts of) the config."""

    def __init__(self, aliases: dict[str, Binding], variables: dict[str, Binding], file: str = ""):
        self.inline_root = None  # call -> Binding of a decode of the config used in place, or None
        self.aliases = aliases
        self.variables = variables
        self.file = file
        self.reads: list[Read] = []
        self.reads_everything = False

    # traversals: `local.config.a["b"].c` -> (binding, ["a", "b", "c"])
    def traversal(
        self, node: Tree, scope: dict[str, Binding]
    ) -> tuple[Binding, list[str], list[Tree]] | None:
        segments: list[str] = []
        index_exprs: list[Tree] = []
        node = _unwrap(node)
        while isinstance(node, Tree):
            kind = node.data
            if kind == "get_attr_expr_term":
                base, attr = _trees(node)
                segments.insert(0, _name(_trees(attr)[0]) or "*")
                node = _unwrap(base)
            elif kind == "index_expr_term":
                base, index = _trees(node)
                if index.data == "short_index":
                    segments = []  # an element of a list: the list field itself is what is read
                else:
                    key = _trees(index)[0]
                    literal = _name(_unwrap(key)) if _unwrap(key).data == "string" else None
                    if literal is not None:
                        segments.insert(0, literal)
                    elif _unwrap(key).data in ("int_lit",):
                        segments = []
                    else:
                        segments.insert(0, "*")
                        index_exprs.append(key)
                node = _unwrap(base)
            elif kind in ("attr_splat_expr_term", "full_splat_expr_term"):
                base, splat = _trees(node)
                rest = [_name(_trees(a)[0]) for a in _trees(splat) if a.data == "get_attr"]
                segments = ["*", *[r or "*" for r in rest]]
                node = _unwrap(base)
            elif kind == "identifier":
                root = _name(node)
                return self._bind(root, segments, scope, index_exprs)
            elif kind == "function_call" and segments and self.inline_root is not None:
                bound = self.inline_root(node)  # `jsondecode(data.aws_ssm_parameter.config.value).size`
                return None if bound is None else (bound, segments, index_exprs)
            else:
                return None
        return None

    def _bind(
        self, root: str | None, segments: list[str], scope: dict[str, Binding], index_exprs: list[Tree]
    ) -> tuple[Binding, list[str], list[Tree]] | None:
        if root in ("local", "var") and segments:
            table = self.aliases if root == "local" else self.variables
            if segments[0] in table:
                return table[segments[0]], segments[1:], index_exprs
            return None
        if root == "each" and segments[:1] == ["value"] and "each.value" in scope:
            return scope["each.value"], segments[1:], index_exprs
        if root in scope:  # a `for` variable
            return scope[root], segments, index_exprs
        if root and f"{root}.value" in scope and segments[:1] == ["value"]:  # a dynamic block iterator
            return scope[f"{root}.value"], segments[1:], index_exprs
        return None

    def source(self, node: Tree, scope: dict[str, Binding]) -> Binding | None:
        """The config collection an expression evaluates to (for aliases and iteration)."""
        node = _unwrap(node)
        if node.data == "function_call":
            name, args = _call_name(node), _args(node)
            if name == "try" and len(args) >= 2:
                inner = self.source(args[0], scope)
                return inner._replace(default=True) if inner else None
            if name in _SHAPE_PRESERVING and len(args) == 1:
                return self.source(args[0], scope)
            if name == "lookup" and len(args) >= 2:
                base, key = self.source(args[0], scope), _name(_unwrap(args[1]))
                if base and key is not None:
                    return Binding(_join(base.path, key), len(args) >= 3, base.filtered)
            return None
        if node.data == "for_object_expr" or node.data == "for_tuple_expr":
            intro = next(c for c in _trees(node) if c.data == "for_intro")
            names = [_name(c) for c in _trees(intro) if c.data == "identifier"]
            bodies = [c for c in _trees(node) if c.data not in ("for_intro", "for_cond")]
            src = self.source(_trees(intro)[-1], scope)
            value = _unwrap(bodies[-1])
            if src and value.data == "identifier" and _name(value) == names[-1]:
                filtered = src.filtered or any(c.data == "for_cond" for c in _trees(node))
                return src._replace(filtered=filtered)  # {for k, v in X : k => v if ...}: a filtered X
            return None
        found = self.traversal(node, scope)
        if found is None:
            return None
        bound, segments, _ = found
        if segments:
            return Binding(_join(bound.path, ".".join(segments)), False, bound.filtered)
        return bound

    def record(self, path: str, default: bool, whole: bool, conditional: bool, node) -> None:
        if path == "":
            if whole:
                self.reads_everything = True
            return
        self.reads.append(Read(path, default, whole, conditional, self.file, _line(node)))

    # expressions
    def expr(self, node, scope: dict[str, Binding], default: bool, conditional: bool) -> None:
        if not isinstance(node, Tree):
            return
        kind = node.data
        if kind in ("get_attr_expr_term", "index_expr_term", "attr_splat_expr_term", "full_splat_expr_term",
                    "identifier"):  # fmt: skip
            found = self.traversal(node, scope)
            if found is not None:
                bound, segments, index_exprs = found
                # An alias's default (`try(local.config.functions, {})`) covers the alias, not its fields.
                has_default = default or (bound.default and not segments)
                path = _join(bound.path, ".".join(segments))
                self.record(path, has_default, True, conditional or bound.filtered, node)
                for key in index_exprs:
                    self.expr(key, scope, default, conditional)
                return
        if kind == "function_call":
            self.call(node, scope, default, conditional)
            return
        if kind == "conditional":
            cond, *branches = _trees(node)
            self.expr(cond, scope, default, conditional)
            for branch in branches:
                self.expr(branch, scope, default, True)
            return
        if kind in ("for_tuple_expr", "for_object_expr"):
            self.for_expr(node, scope, default, conditional)
            return
        if kind in ("heredoc_template", "heredoc_template_trim"):
            self.heredoc(node.children[0], scope, default, conditional)
            return
        for child in _trees(node):
            self.expr(child, scope, default, conditional)

    def call(self, node: Tree, scope: dict[str, Binding], default: bool, conditional: bool) -> None:
        name, args = _call_name(node), _args(node)
        if name == "try" and len(args) >= 2:
            for arg in args[:-1]:
                self.expr(arg, scope, True, conditional)
            self.expr(args[-1], scope, default, conditional)
            return
        if name == "lookup" and len(args) >= 2:
            base, key = self.source(args[0], scope), _name(_unwrap(args[1]))
            if base is not None and key is not None:
                has_default = default or len(args) >= 3
                self.record(_join(base.path, key), has_default, True, conditional or base.filtered, node)
                for arg in args[2:]:
                    self.expr(arg, scope, default, conditional)
                return
        if name in _STRUCTURE_ONLY and len(args) == 1:
            src = self.source(args[0], scope)
            if src is not None:
                has_default = True if name == "can" else default or src.default
                self.record(src.path, has_default, False, conditional or src.filtered, node)
                return
            self.expr(args[0], scope, True if name == "can" else default, conditional)
            return
        for arg in args:
            self.expr(arg, scope, default, conditional)

    def for_expr(self, node: Tree, scope: dict[str, Binding], default: bool, conditional: bool) -> None:
        intro = next(c for c in _trees(node) if c.data == "for_intro")
        names = [_name(c) for c in _trees(intro) if c.data == "identifier"]
        collection = _trees(intro)[-1]
        src = self.source(collection, scope)
        inner = dict(scope)
        if src is not None:
            self.record(src.path, default or src.default, False, conditional or src.filtered, collection)
            inner[names[-1]] = Binding(_join(src.path, "*"), False, src.filtered)
        else:
            self.expr(collection, scope, default, conditional)
        for child in _trees(node):
            if child.data == "for_intro" or _name(_unwrap(child)) in names:
                continue  # `k => v`: passing the element through is no read of its fields
            if child.data == "for_cond":
                self.expr(child, inner, True, conditional)  # a filter: fields it tests may be absent
            else:
                self.expr(child, inner, default, conditional)

    def heredoc(self, token: Token, scope: dict[str, Binding], default: bool, conditional: bool) -> None:
        text, first_line = str(token), int(token.line or 1)
        for match in _INTERPOLATION.finditer(text):
            depth, end = 1, match.end()
            while end < len(text) and depth:
                depth += {"{": 1, "}": -1}.get(text[end], 0)
                end += 1
            try:
                tree = hcl2.parses_to_tree(f"x = {text[match.end() : end - 1]}\n")
            except Exception:  # noqa: BLE001 - a template directive python-hcl2 cannot parse
                continue
            before = len(self.reads)
            for attribute in tree.find_data("attribute"):
                self.expr(_trees(attribute)[-1], scope, default, conditional)
            offset = first_line + text.count("\n", 0, match.start()) - 1
            self.reads[before:] = [replace(r, line=r.line + offset) for r in self.reads[before:]]
