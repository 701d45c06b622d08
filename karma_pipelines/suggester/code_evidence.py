"""Code evidence: which config fields each component type's Terraform reads, with or without a default.

A component type's Terraform is the folder of `.tf` files named after the type (`components/vpc/`,
`modules/vpc/`); its config is a local holding `jsondecode(...)` of the published config (Karma's
`local.config`, also `local.cfg`). HCL is parsed with python-hcl2 and the expression trees are walked:

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
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import hcl2
from lark import Token, Tree

from karma_pipelines.suggester.structure import covers, path_matches

CONFIG_LOCAL_NAMES = ("config", "cfg")
_SHAPE_PRESERVING = {"tolist", "toset", "tomap", "nonsensitive", "sensitive", "flatten", "values"}
_STRUCTURE_ONLY = {"keys", "length", "can", "type"}
_INTERPOLATION = re.compile(r"\$\{")
_FALLBACK = re.compile(r"local\.(?:config|cfg)((?:\.[A-Za-z_][A-Za-z0-9_-]*|\[\"[^\"]+\"\])+)")


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


@dataclass
class TypeCode:
    """What one component type's Terraform reads."""

    component_type: str
    folders: list[str] = field(default_factory=list)
    reads: list[Read] = field(default_factory=list)
    reads_everything: bool = False  # the whole config is used as a value somewhere

    def read_kind(self, path: str) -> str | None:
        """`exact`: the path itself is read (or a leaf holding it is read inside); `covered`: only
        as part of a subtree used whole (a bag of environment variables, `tags`); None: not read."""
        if any(path_matches(r.path, path) or covers_leaf(path, r.path) for r in self.reads):
            return "exact"
        if self.reads_everything or any(r.whole and covers(r.path, path) for r in self.reads):
            return "covered"
        return None

    def is_read(self, path: str) -> bool:
        return self.read_kind(path) is not None

    def is_required(self, path: str) -> bool:
        """Read without a default, unconditionally (a deploy without it fails)."""
        return any(
            r.required and (path_matches(r.path, path) or covers_leaf(path, r.path)) for r in self.reads
        )

    def fields(self) -> dict[str, bool]:
        """Path pattern -> has a default everywhere it is read."""
        out: dict[str, bool] = {}
        for read in self.reads:
            out[read.path] = out.get(read.path, True) and read.has_default
        return dict(sorted(out.items()))

    def required_paths(self) -> list[str]:
        return sorted({r.path for r in self.reads if r.required})


def covers_leaf(path: str, read: str) -> bool:
    """The config holds `path` as one leaf (a list) and the code reads inside it (`path.*.x`)."""
    r, q = read.split("."), path.split(".")
    return len(r) > len(q) and all(a == "*" or a == b for a, b in zip(r[: len(q)], q, strict=True))


@dataclass
class CodeEvidence:
    """Fields read per component type, from an IaC folder."""

    root: str
    types: dict[str, TypeCode] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # files python-hcl2 could not parse (regex fallback)

    def has(self, component_type: str) -> bool:
        return component_type in self.types

    def is_read(self, component_type: str, path: str) -> bool | None:
        """True/False when the type's Terraform is known, None otherwise."""
        code = self.types.get(component_type)
        return None if code is None else code.is_read(path)

    def read_kind(self, component_type: str, path: str) -> str | None:
        code = self.types.get(component_type)
        return None if code is None else code.read_kind(path)

    def is_required(self, component_type: str, path: str) -> bool:
        code = self.types.get(component_type)
        return bool(code and code.is_required(path))

    def table(self) -> list[dict]:
        """One row per (type, path read): what the evidence says, for reports and MLflow."""
        rows = []
        for ctype, code in sorted(self.types.items()):
            for path, has_default in code.fields().items():
                required = any(r.required for r in code.reads if r.path == path)
                rows.append(
                    {"component_type": ctype, "path": path, "has_default": has_default, "required": required}
                )
        return rows


# --- the HCL walk -------------------------------------------------------------------------------------


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


class _ModuleWalker:
    """Walks one module folder's trees, given the locals that hold (parts of) the config."""

    def __init__(self, aliases: dict[str, Binding], variables: dict[str, Binding], file: str = ""):
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
                bound = Binding(_join(src.path, "*"), False, src.filtered)
                if kind == "dynamic" and iterator:
                    inner[f"{iterator}.value"] = bound
                else:
                    inner["each.value"] = bound
            else:
                self.expr(value, scope, False, conditional)
                cond = True
        for name, attribute in attributes.items():
            if name in ("for_each", "iterator"):
                continue
            self.expr(_trees(attribute)[-1], inner, False, cond)
        for child in _trees(body):
            if child.data == "block":
                self.block(child, inner, cond)

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


def _join(prefix: str, rest: str) -> str:
    return f"{prefix}.{rest}" if prefix and rest else (prefix or rest)


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


def _parse(path: Path) -> Tree:
    return hcl2.parses_to_tree(path.read_text(encoding="utf-8"))


def _fallback_reads(path: Path, root: Path) -> list[Read]:
    """For a file python-hcl2 cannot parse: plain `local.config.<path>` references, as required reads."""
    reads = []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if line.lstrip().startswith(("#", "//")):
            continue
        for match in _FALLBACK.finditer(line):
            segments = re.findall(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[\"([^\"]+)\"\]", match.group(1))
            dotted = ".".join(a or b for a, b in segments)
            defaulted = "try(" in line[: match.start()] or "lookup(" in line[: match.start()]
            reads.append(Read(dotted, defaulted, True, False, str(path.relative_to(root)), number))
    return reads


def read_code_evidence(iac_dir: Path | str, type_of_folder: dict[str, str] | None = None) -> CodeEvidence:
    """Fields read per component type by the Terraform under `iac_dir` (the type is the name of the
    folder holding the `.tf` files, or `type_of_folder[name]`). Folders whose Terraform loads no
    config (`jsondecode` of a `config` parameter, or a `config`/`cfg` local or variable) are skipped."""
    root = Path(iac_dir)
    evidence = CodeEvidence(root=str(root))
    folders: dict[Path, list[Path]] = defaultdict(list)
    for path in sorted(root.rglob("*.tf")):
        if ".terraform" in path.parts:
            continue
        folders[path.parent].append(path)
    for folder, files in sorted(folders.items()):
        trees, fallback = [], []
        for path in files:
            try:
                trees.append((path, _parse(path)))
            except Exception as exc:  # noqa: BLE001 - python-hcl2 raises lark errors of many kinds
                evidence.errors.append(f"{path.relative_to(root)}: {type(exc).__name__}")
                fallback += _fallback_reads(path, root)
        aliases, variables = _module_bindings([t for _, t in trees])
        if not aliases and not variables and not fallback:
            continue
        ctype = (type_of_folder or {}).get(folder.name, folder.name)
        code = evidence.types.setdefault(ctype, TypeCode(ctype))
        code.folders.append(str(folder.relative_to(root)) or ".")
        code.reads.extend(fallback)
        for path, tree in trees:
            walker = _ModuleWalker(aliases, variables, str(path.relative_to(root)))
            walker.body(_trees(tree)[0], {}, False)
            code.reads.extend(walker.reads)
            code.reads_everything |= walker.reads_everything
    return evidence
