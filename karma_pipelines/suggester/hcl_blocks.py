"""Walking HCL blocks: locals that alias the config, `for_each` and dynamic-block iterators, `count`,
and calls of local child modules that receive (part of) the config (`module "x" { config = local.config }`):
those are collected in `passes`, for the caller to follow into the child's `var.<name>` reads."""

from __future__ import annotations

from typing import NamedTuple

from lark import Tree

from karma_pipelines.suggester.hcl_expressions import _ExpressionWalker
from karma_pipelines.suggester.hcl_tree import (
    Binding,
    _args,
    _call_name,
    _children,
    _join,
    _name,
    _trees,
    _unwrap,
)

_MODULE_META = ("source", "version", "count", "for_each", "providers", "depends_on")


class ModulePass(NamedTuple):
    """`module "<module>" { <variable> = <config subtree> }` of a local child module."""

    module: str
    variable: str
    binding: Binding


class _ModuleWalker(_ExpressionWalker):
    """Walks one module folder's trees, given the locals that hold (parts of) the config;
    `local_modules`: labels of the module blocks whose source is a local folder."""

    def __init__(self, aliases, variables, file: str = "", local_modules: frozenset[str] = frozenset()):
        super().__init__(aliases, variables, file)
        self.local_modules = local_modules
        self.passes: list[ModulePass] = []

    # blocks
    def body(self, body: Tree, scope: dict[str, Binding], conditional: bool) -> None:
        for item in _trees(body):
            if item.data == "attribute":
                self.attribute(item, scope, conditional)
            elif item.data == "block":
                self.block(item, scope, conditional)

    def attribute(self, item: Tree, scope: dict[str, Binding], conditional: bool) -> None:
        self.expr(_trees(item)[-1], scope, False, conditional)

    def block(self, block: Tree, scope: dict[str, Binding], conditional: bool) -> None:
        parts = _children(block)
        kind = _name(parts[0])
        labels = [_name(p) for p in parts[1:] if isinstance(p, Tree) and p.data in ("identifier", "string")]
        body = next(p for p in parts if isinstance(p, Tree) and p.data == "body")
        attributes = {_name(_trees(a)[0]): a for a in _trees(body) if a.data == "attribute"}
        if kind == "locals":
            for local_name, attribute in attributes.items():
                value = _trees(attribute)[-1]
                if local_name in self.aliases:
                    src = self.source(value, scope)
                    if src is not None and src.path:
                        self.record(src.path, src.default, False, conditional or src.filtered, value)
                        self._defaults_of(value, scope, conditional)
                    continue
                self.expr(value, scope, False, conditional)
            return
        if kind == "variable":
            return
        inner = dict(scope)
        cond = conditional or "count" in attributes or kind == "dynamic"
        iterator = None
        if "for_each" in attributes:
            value = _trees(attributes["for_each"])[-1]
            src = self.source(value, scope)
            if kind == "dynamic":
                named = attributes.get("iterator")
                iterator = (_name(_trees(named)[-1]) if named else None) or (labels[0] if labels else None)
            if src is not None:
                self.record(src.path, src.default, False, conditional or src.filtered, value)
                # An element of a collection that may be absent (`try(local.config.x, {})`) used whole
                # does not make the collection required; its fields still are, for each element.
                bound = Binding(_join(src.path, "*"), src.default, src.filtered)
                if kind == "dynamic" and iterator:
                    inner[f"{iterator}.value"] = bound
                else:
                    inner["each.value"] = bound
            else:
                self.expr(value, scope, False, conditional)
                cond = True
        if kind == "module" and labels and labels[0] in self.local_modules:
            attributes = self._module_call(labels[0], attributes, inner, cond)
        for name, attribute in attributes.items():
            if name in ("for_each", "iterator"):
                continue
            self.expr(_trees(attribute)[-1], inner, False, cond)
        for child in _trees(body):
            if child.data == "block":
                self.block(child, inner, cond)

    def _module_call(self, module: str, attributes: dict, scope: dict[str, Binding], cond: bool) -> dict:
        """Note the inputs of a local module that receive (part of) the config (what the child reads
        of them is the evidence, not the passing); the other attributes are walked as usual."""
        rest = {}
        for name, attribute in attributes.items():
            value = _trees(attribute)[-1]
            src = None if name in _MODULE_META else self.source(value, scope)
            if src is None:
                rest[name] = attribute
                continue
            self.passes.append(ModulePass(module, name, Binding(src.path, src.default, src.filtered or cond)))
        return rest

    def _defaults_of(self, value: Tree, scope: dict[str, Binding], conditional: bool) -> None:
        """Walk what an alias's definition reads besides the aliased subtree: the defaults of its
        `try(...)`/`lookup(...)`, and the key and filter of a `for` expression."""
        node = _unwrap(value)
        if node.data == "function_call" and _call_name(node) in ("try", "lookup"):
            args = _args(node)
            for arg in args[1:]:
                self.expr(arg, scope, True, conditional)
            if args:
                self._defaults_of(args[0], scope, conditional)
        elif node.data in ("for_tuple_expr", "for_object_expr"):
            self.for_expr(node, scope, False, conditional)
