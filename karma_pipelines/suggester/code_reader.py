"""Reading an IaC folder into `CodeEvidence`: parse every `.tf` file, find each folder's config roots,
walk its reads, and follow (part of) the config into the local child modules it is passed to."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from lark import Tree

from karma_pipelines.suggester.code_evidence import CodeEvidence, TypeCode
from karma_pipelines.suggester.config_roots import _module_bindings
from karma_pipelines.suggester.hcl_blocks import _ModuleWalker
from karma_pipelines.suggester.hcl_parse import ParsedFile, fallback_reads, parse_file
from karma_pipelines.suggester.hcl_tree import Binding, _children, _name, _trees

_MAX_MODULE_DEPTH = 5


def _local_modules(folder: Path, files: list[ParsedFile], known: set[Path]) -> dict[str, Path]:
    """Module label -> the folder of a local child module (`source = "./modules/x"`) that holds `.tf`."""
    out = {}
    for parsed in files:
        for tree in parsed.trees:
            for block in tree.find_data("block"):
                parts = _children(block)
                if _name(parts[0]) != "module":
                    continue
                labels = [
                    _name(p) for p in parts[1:] if isinstance(p, Tree) and p.data in ("identifier", "string")
                ]
                body = next(p for p in parts if isinstance(p, Tree) and p.data == "body")
                for attribute in _trees(body):
                    if attribute.data != "attribute" or _name(_trees(attribute)[0]) != "source":
                        continue
                    source = (_name(_trees(attribute)[-1]) or "").replace("${path.module}/", "./")
                    if labels and labels[0] and source.startswith(("./", "../")):
                        child = (folder / source).resolve()
                        if child in known:
                            out[labels[0]] = child
    return out


class _Reader:
    def __init__(self, root: Path, parsed: dict[Path, list[ParsedFile]]):
        self.root, self.parsed = root, parsed
        self.calls = {f: _local_modules(f, files, set(parsed)) for f, files in parsed.items()}

    def rel(self, folder: Path) -> str:
        return str(folder.relative_to(self.root)) or "."

    def bindings(self, folder: Path, inputs: dict[str, Binding] | None):
        pairs = [(p, t) for p in self.parsed[folder] for t in p.trees]
        aliases, variables, roots, inline = _module_bindings(
            [t for _, t in pairs], inputs, [p.file for p, _ in pairs]
        )
        return pairs, (aliases, variables, inline), roots

    def walk(
        self, folder: Path, code: TypeCode, inputs: dict[str, Binding] | None, depth: int, seen: set
    ) -> None:
        pairs, (aliases, variables, inline), roots = self.bindings(folder, inputs)
        code.roots.extend(roots)
        for parsed in self.parsed[folder]:
            code.files.append(
                {"file": parsed.file, "status": parsed.status, "blocks": parsed.n_blocks,
                 "failures": [f.as_dict() for f in parsed.failures]}
            )  # fmt: skip
            code.reads.extend(fallback_reads(parsed))
        passes = []
        for parsed, tree in pairs:
            walker = _ModuleWalker(aliases, variables, parsed.file, frozenset(self.calls[folder]))
            walker.inline_root = inline
            walker.body(_trees(tree)[0], {}, False)
            code.reads.extend(walker.reads)
            code.reads_everything |= walker.reads_everything
            passes += walker.passes
        by_module: dict[str, dict[str, Binding]] = defaultdict(dict)
        for found in passes:
            by_module[found.module][found.variable] = found.binding
        for module, child_inputs in sorted(by_module.items()):
            child = self.calls[folder][module]
            key = (child, tuple(sorted(child_inputs.items())))
            if depth >= _MAX_MODULE_DEPTH or key in seen:
                continue
            seen.add(key)
            for variable, binding in sorted(child_inputs.items()):
                at = f" ({binding.path})" if binding.path else ""
                code.modules.append(f"{self.rel(child)} as var.{variable}{at}")
            self.walk(child, code, child_inputs, depth + 1, seen)


def _empty_siblings(root: Path, folders: list[Path]) -> list[Path]:
    """Folders beside component folders (under the same folder, not the IaC root itself) that hold no
    `.tf` at all: a type with no Terraform (`components/sqs-queue/README.md` only)."""
    parents = defaultdict(set)
    for folder in folders:
        if folder.parent != root and folder != root:
            parents[folder.parent].add(folder)
    out = []
    for parent, kids in parents.items():
        for entry in sorted(parent.iterdir()):
            visible = entry.is_dir() and not entry.name.startswith(".") and entry not in kids
            if visible and not any(entry.rglob("*.tf")):
                out.append(entry)
    return out


def read_folders(iac_dir, type_of_folder: dict[str, str] | None = None) -> CodeEvidence:
    root = Path(iac_dir).resolve()
    evidence = CodeEvidence(root=str(Path(iac_dir)))
    files: dict[Path, list[Path]] = defaultdict(list)
    for path in sorted(root.rglob("*.tf")):
        if ".terraform" not in path.parts and path.is_file():
            files[path.parent].append(path)
    parsed = {folder: [parse_file(p, root) for p in paths] for folder, paths in sorted(files.items())}
    for found in parsed.values():
        for p in found:
            evidence.failures.extend(p.failures)
            evidence.errors.extend(str(f) for f in p.failures)
    reader = _Reader(root, parsed)
    children = {c for calls in reader.calls.values() for c in calls.values()}
    components = [f for f in parsed if f not in children]
    for folder in components:
        ctype = (type_of_folder or {}).get(folder.name, folder.name)
        _, (aliases, variables, _), roots = reader.bindings(folder, None)
        fallback = [r for p in parsed[folder] for r in fallback_reads(p)]
        if not aliases and not variables and not fallback and not any(r.is_config for r in roots):
            decoded = [f"{r.name} ({r.source}: {r.why})" for r in roots if not r.is_config]
            why = "no config root: no decode of its own config"
            if decoded:
                why += "; decoded but not its config: " + ", ".join(decoded)
            evidence.skipped.append({"component_type": ctype, "folder": reader.rel(folder), "why": why})
            continue
        code = evidence.types.setdefault(ctype, TypeCode(ctype))
        code.folders.append(reader.rel(folder))
        reader.walk(folder, code, None, 0, set())
    for folder in _empty_siblings(root, components):
        ctype = (type_of_folder or {}).get(folder.name, folder.name)
        evidence.skipped.append(
            {"component_type": ctype, "folder": reader.rel(folder), "why": "no .tf files"}
        )
    return evidence
