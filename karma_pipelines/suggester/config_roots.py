"""Which locals and variables of a module hold the component's config, or part of it.

A config root is a local whose value is a `jsondecode`/`yamldecode` (possibly wrapped in `try`,
`nonsensitive`, `sensitive`, `merge`, `coalesce` or a conditional) of

- a Parameter Store value, `data.aws_ssm_parameter.<label>.value`, when the parameter is the
  component's own config: its label ends in `config` or its `name` ends in `/config` (Karma's
  `config = try(nonsensitive(jsondecode(data.aws_ssm_parameter.config.value)), {})`); another
  component's runtime decoded the same way (`data.aws_ssm_parameter.vpc_runtime`, a `name` ending
  in `/runtime`) is not;
- a file (`file(...)`, `templatefile(...)`) or a variable, when its path or name says config;

and a variable named `config`/`cfg`, or one a parent module passes (part of) its config to
(`module "x" { config = local.config }`). Locals aliasing part of a root are found to a fixpoint.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from lark import Token, Tree

from karma_pipelines.suggester.hcl_blocks import _ModuleWalker
from karma_pipelines.suggester.hcl_tree import (
    Binding,
    _args,
    _call_name,
    _children,
    _line,
    _name,
    _trees,
    _unwrap,
)

CONFIG_LOCAL_NAMES = ("config", "cfg")
_DECODERS = ("jsondecode", "yamldecode")
_WRAPPERS = ("try", "nonsensitive", "sensitive", "merge", "coalesce", "tomap", "trimspace")
_CONFIG_WORDS = ("config", "cfg", "settings")
_OTHER_WORDS = ("runtime", "output")  # as the first letters of a word: `vpc_runtime`, `outputs`


@dataclass(frozen=True)
class ConfigRoot:
    """A local or variable recognised as holding the config (or, `is_config=False`, a decoded value
    that is not this component's config, kept for the report)."""

    name: str  # `local.config`, `var.config`
    file: str
    line: int
    source: str  # what is decoded: `data.aws_ssm_parameter.config`, `file(...)`, `var.x`, `module.y`
    is_config: bool = True
    why: str = ""

    def as_dict(self) -> dict:
        out = {"name": self.name, "file": self.file, "line": self.line, "source": self.source}
        if not self.is_config:
            out["why_not"] = self.why
        return out


def _path(node) -> list[str] | None:
    """`data.aws_ssm_parameter.config.value` -> its segments; None for anything else."""
    node = _unwrap(node)
    if isinstance(node, Tree) and node.data == "identifier":
        return [_name(node) or ""]
    if isinstance(node, Tree) and node.data == "get_attr_expr_term":
        base, attr = _trees(node)
        head = _path(base)
        return None if head is None else [*head, _name(_trees(attr)[0]) or "*"]
    return None


def _text(node) -> str:
    return (
        "".join(str(t) for t in node.scan_values(lambda v: isinstance(v, Token)))
        if isinstance(node, Tree)
        else ""
    )


def _decodes(node) -> list[Tree]:
    """The `jsondecode`/`yamldecode` calls a value is, through wrappers and conditional branches."""
    node = _unwrap(node)
    if not isinstance(node, Tree):
        return []
    if node.data == "function_call":
        name = _call_name(node)
        if name in _DECODERS:
            return [node]
        if name in _WRAPPERS:
            return [d for arg in _args(node) for d in _decodes(arg)]
        return []
    if node.data == "conditional":
        return [d for branch in _trees(node)[1:] for d in _decodes(branch)]
    return []


def _says(text: str, words: tuple[str, ...]) -> bool:
    """Does a name hold one of `words` as a word (`vpc_runtime`, `config_json`, `app-configuration`)?"""
    return any(part.startswith(words) for part in re.split(r"[^a-z0-9]+", text.lower()) if part)


def _literal(node) -> str:
    """A `name` argument as written, its interpolations as `{}` (`/iac/{}/{}/config`); a bare
    reference (`var.config_path`) as its text."""
    node = _unwrap(node)
    if not (isinstance(node, Tree) and node.data == "string"):
        return _text(node)
    parts = []
    for part in node.children:
        if isinstance(part, Tree) and part.data == "string_part":
            inner = part.children[0]
            parts.append(str(inner) if isinstance(inner, Token) else "{}")
    return "".join(parts)


class _Classifier:
    """Decides whether a decoded value is the component's own config."""

    def __init__(self, trees: list[Tree], locals_: dict[str, Tree]):
        self.locals = locals_
        self.ssm_names: dict[str, str] = {}  # label -> text of its `name` argument
        for tree in trees:
            for block in tree.find_data("block"):
                parts = _children(block)
                labels = [
                    _name(p) for p in parts[1:] if isinstance(p, Tree) and p.data in ("identifier", "string")
                ]
                if _name(parts[0]) == "data" and labels[:1] == ["aws_ssm_parameter"] and len(labels) > 1:
                    body = next(p for p in parts if isinstance(p, Tree) and p.data == "body")
                    for attribute in _trees(body):
                        if attribute.data == "attribute" and _name(_trees(attribute)[0]) == "name":
                            self.ssm_names[labels[1] or ""] = _literal(_trees(attribute)[-1])

    def classify(self, local_name: str, decode: Tree, depth: int = 0) -> tuple[str, bool, str]:
        """(source, is this component's config, why not)."""
        args = _args(decode)
        arg = args[0] if args else decode
        while isinstance(_unwrap(arg), Tree) and _unwrap(arg).data == "function_call":
            call = _unwrap(arg)
            if _call_name(call) in ("file", "templatefile"):
                where = _args(call)[0] if _args(call) else None
                shown = f"{_call_name(call)}({_text(where)})"
                return self._named(local_name, shown, _literal(where) if where is not None else "")
            if _call_name(call) in _WRAPPERS + ("base64decode",) and _args(call):
                arg = _args(call)[0]
                continue
            break
        path = _path(arg) or []
        if path[:2] == ["data", "aws_ssm_parameter"] and len(path) >= 3:
            label, name = path[2], self.ssm_names.get(path[2], "")
            source = f"data.aws_ssm_parameter.{label}"
            last = name.rstrip("/").rpartition("/")[2]
            if _says(label, _OTHER_WORDS) or _says(last, _OTHER_WORDS):
                return source, False, "another component's runtime"
            own = label.endswith("config") or name.rstrip("/").endswith("/config")
            own |= "/" not in name and _says(name, _CONFIG_WORDS)  # `name = var.config_path`
            if own or local_name in CONFIG_LOCAL_NAMES:
                return source, True, ""
            return source, False, "a parameter that is not the component's config"
        if path[:1] == ["var"] and len(path) >= 2:
            return self._named(local_name, f"var.{path[1]}", path[1])
        if path[:1] == ["local"] and len(path) == 2 and path[1] in self.locals and depth < 5:
            inner = Tree("function_call", [Tree("identifier", [Token("NAME", "jsondecode")]),
                                           Tree("arguments", [self.locals[path[1]]])])  # fmt: skip
            return self.classify(local_name, inner, depth + 1)
        # Named by its reference only: a literal decoded in place may hold a secret.
        shown = ".".join(path) if path else "an expression"
        return shown, False, "not a Parameter Store value, a file or a variable"

    def inline_root(self, call: Tree) -> Binding | None:
        """The whole config, for a decode of it used in place (`jsondecode(...config.value).size`)."""
        found = [self.classify("", d) for d in _decodes(call)]
        return Binding("") if found and all(is_config for _, is_config, _ in found) else None

    @staticmethod
    def _named(local_name: str, source: str, text: str) -> tuple[str, bool, str]:
        if _says(text, _OTHER_WORDS):
            return source, False, "another component's runtime"
        if _says(text, _CONFIG_WORDS) or local_name in CONFIG_LOCAL_NAMES:
            return source, True, ""
        return source, False, "its name does not say config"


def _module_bindings(
    trees: list[Tree], inputs: dict[str, Binding] | None = None, files: list[str] | None = None
) -> tuple[dict[str, Binding], dict[str, Binding], list[ConfigRoot], Callable]:
    """Locals and variables holding the config or part of it (to a fixpoint), the roots found, and
    what tells a decode of the config used in place. `inputs`: variables a parent module passes
    (part of) its config to."""
    files = files or [""] * len(trees)
    locals_: dict[str, tuple[Tree, str]] = {}
    variables: dict[str, Binding] = {}
    roots: list[ConfigRoot] = []
    for tree, file in zip(trees, files, strict=True):
        for block in tree.find_data("block"):
            parts = _children(block)
            kind = _name(parts[0])
            body = next(p for p in parts if isinstance(p, Tree) and p.data == "body")
            labels = [
                _name(p) for p in parts[1:] if isinstance(p, Tree) and p.data in ("identifier", "string")
            ]
            if kind == "locals":
                for attribute in _trees(body):
                    if attribute.data == "attribute":
                        locals_[_name(_trees(attribute)[0]) or ""] = (_trees(attribute)[-1], file)
            elif kind == "variable" and labels:
                name = labels[0] or ""
                if inputs and name in inputs:
                    variables[name] = inputs[name]
                    roots.append(
                        ConfigRoot(f"var.{name}", file, _line(block), "passed by the calling module")
                    )
                elif name in CONFIG_LOCAL_NAMES:
                    variables[name] = Binding("")
                    roots.append(ConfigRoot(f"var.{name}", file, _line(block), "a variable named config"))
    classifier = _Classifier(trees, {n: v for n, (v, _) in locals_.items()})
    aliases: dict[str, Binding] = {}
    seen = {id(d) for value, _ in locals_.values() for d in _decodes(value)}
    for tree, file in zip(trees, files, strict=True):  # decodes of the config used in place
        for call in tree.find_data("function_call"):
            if _call_name(call) in _DECODERS and id(call) not in seen:
                source, is_config, _ = classifier.classify("", call)
                if is_config:
                    roots.append(ConfigRoot(f"{_call_name(call)}(...)", file, _line(call), source))
    for name, (value, file) in locals_.items():
        found = [classifier.classify(name, d) for d in _decodes(value)]
        for source, is_config, why in found:
            roots.append(ConfigRoot(f"local.{name}", file, _line(value), source, is_config, why))
        if any(is_config for _, is_config, _ in found):
            aliases[name] = Binding("")
    # An undeclared `local.cfg` beside a declared config root is that config (Karma's ecs-service).
    for name in CONFIG_LOCAL_NAMES if aliases else ():
        used = [t for t in trees for n in t.find_data("get_attr_expr_term") if _path(n) == ["local", name]]
        if name not in locals_ and used:
            aliases[name] = Binding("")
            roots.append(ConfigRoot(f"local.{name}", "", 0, "undeclared, read as the config root"))
    walker = _ModuleWalker(aliases, variables)
    walker.inline_root = classifier.inline_root
    changed = True
    while changed:
        changed = False
        for name, (value, _) in locals_.items():
            if name in aliases:
                continue
            src = walker.source(value, {})
            if src is not None:
                aliases[name] = src
                changed = True
    return aliases, variables, roots, classifier.inline_root
