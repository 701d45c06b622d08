"""Code evidence: which config fields each component type's Terraform reads, with or without a default.

A component type's Terraform is the folder of `.tf` files named after the type (`components/vpc/`,
`modules/vpc/`); its config is a local holding `jsondecode(...)` of the published config (Karma's
`local.config`, also `local.cfg`; `config_roots`). HCL is parsed with python-hcl2 and the expression
trees are walked (`hcl_expressions`, `hcl_blocks`); here the reads are gathered per component type.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from karma_pipelines.suggester.config_roots import _module_bindings
from karma_pipelines.suggester.hcl_blocks import _ModuleWalker
from karma_pipelines.suggester.hcl_expressions import Read
from karma_pipelines.suggester.hcl_tree import _parse, _trees
from karma_pipelines.suggester.structure import covers, path_matches

_FALLBACK = re.compile(r"local\.(?:config|cfg)((?:\.[A-Za-z_][A-Za-z0-9_-]*|\[\"[^\"]+\"\])+)")


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
