"""Which locals and variables of a module hold the config (a `jsondecode(...)` of it) or part of it."""

from __future__ import annotations

from lark import Token, Tree

from karma_pipelines.suggester.hcl_blocks import _ModuleWalker
from karma_pipelines.suggester.hcl_tree import Binding, _call_name, _children, _name, _trees, _unwrap

CONFIG_LOCAL_NAMES = ("config", "cfg")


def _is_config_root(name: str, value: Tree) -> bool:
    node = _unwrap(value)
    if node.data != "function_call" or _call_name(node) != "jsondecode":
        return False
    text = " ".join(str(t) for t in node.scan_values(lambda v: isinstance(v, Token)))
    return name in CONFIG_LOCAL_NAMES or "config" in text.lower()


def _module_bindings(trees: list[Tree]) -> tuple[dict[str, Binding], dict[str, Binding]]:
    """Locals (and variables) holding the config or part of it, to a fixpoint."""
    locals_: dict[str, Tree] = {}
    variables: dict[str, Binding] = {}
    for tree in trees:
        for block in tree.find_data("block"):
            parts = _children(block)
            kind = _name(parts[0])
            body = next(p for p in parts if isinstance(p, Tree) and p.data == "body")
            if kind == "locals":
                for attribute in _trees(body):
                    if attribute.data == "attribute":
                        locals_[_name(_trees(attribute)[0]) or ""] = _trees(attribute)[-1]
            elif kind == "variable":
                labels = [
                    _name(p) for p in parts[1:] if isinstance(p, Tree) and p.data in ("identifier", "string")
                ]
                if labels and labels[0] in CONFIG_LOCAL_NAMES:
                    variables[labels[0]] = Binding("")
    aliases: dict[str, Binding] = {n: Binding("") for n, v in locals_.items() if _is_config_root(n, v)}
    walker = _ModuleWalker(aliases, variables)
    changed = True
    while changed:
        changed = False
        for name, value in locals_.items():
            if name in aliases:
                continue
            src = walker.source(value, {})
            if src is not None:
                aliases[name] = src
                changed = True
    return aliases, variables
