"""Code evidence: which config fields each component type's Terraform reads, with or without a default.

A component type's Terraform is the folder of `.tf` files named after the type (`components/vpc/`,
`modules/vpc/`); its config is a local holding a decode of the published config (Karma's
`config = try(nonsensitive(jsondecode(data.aws_ssm_parameter.config.value)), {})`; `config_roots`).
HCL is parsed with python-hcl2, block by block where the whole file is rejected (`hcl_parse`), and the
expression trees are walked (`hcl_expressions`, `hcl_blocks`); local child modules that receive (part
of) the config are followed into their `var.<name>` reads. Here the reads are gathered per type.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from karma_pipelines.suggester.config_roots import ConfigRoot
from karma_pipelines.suggester.hcl_expressions import Read
from karma_pipelines.suggester.hcl_parse import ParseFailure
from karma_pipelines.suggester.structure import covers, path_matches


@dataclass
class TypeCode:
    """What one component type's Terraform reads."""

    component_type: str
    folders: list[str] = field(default_factory=list)
    reads: list[Read] = field(default_factory=list)
    reads_everything: bool = False  # the whole config is used as a value somewhere
    files: list[dict] = field(default_factory=list)  # per file: status, blocks, parse failures
    roots: list[ConfigRoot] = field(default_factory=list)  # decoded values (config or not) found
    modules: list[str] = field(default_factory=list)  # local child modules followed, `folder as var.x`

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
    errors: list[str] = field(default_factory=list)  # `file:line in block: message`, one per failure
    failures: list[ParseFailure] = field(default_factory=list)  # the same, structured
    skipped: list[dict] = field(default_factory=list)  # folders with no config root, and why

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


def read_code_evidence(iac_dir, type_of_folder: dict[str, str] | None = None) -> CodeEvidence:
    """Fields read per component type by the Terraform under `iac_dir` (the type is the name of the
    folder holding the `.tf` files, or `type_of_folder[name]`). Folders whose Terraform loads no
    config are listed in `skipped` with the reason; local child modules are read through their caller."""
    from karma_pipelines.suggester.code_reader import read_folders

    return read_folders(iac_dir, type_of_folder)
