"""The Terraform that reads a world's configs, rendered from the one catalogue of component types: one
folder per type under `components/`, reading each field the type reads (without a default where the
type cannot do without it), feature groups behind a `count`, user-named maps read whole and
per-item fields (`functions.*.runtime`) through `for_each`.

`styled=True` varies how reads are written, in the styles found in Karma's repositories
(`local.cfg`, `local.config["x"]`, `lookup(...)`, `try(...)`, a separate header file): what a
reader of real Terraform has to cope with. Both say the same about every field.
"""

from __future__ import annotations

from pathlib import Path

from karma_pipelines.simulator.component_types import SPECS, Field, TypeSpec

_HEADER = """data "aws_ssm_parameter" "config" {{
  name = "${{var.iac_prefix}}/{ctype}/${{var.nickname}}/config"
}}

locals {{
  {local} = jsondecode(nonsensitive(data.aws_ssm_parameter.config.value))
  tags = merge({{ Component = "{ctype}", Nickname = var.nickname }}, try(local.{local}.tags, {{}}))
}}
"""


def _read(root: str, f: Field, name: str, i: int, styled: bool) -> str:
    """How one field is read from `root` (`local.config`, `each.value`)."""
    path = f"{root}.{name}"
    if f.is_required:
        return f'{root}["{name}"]' if styled and i % 5 == 0 and "." not in name else path
    if styled and i % 3 == 0 and "." not in name:
        return f'lookup({root}, "{name}", null)'
    return f"try({path}, null)"


def _key(path: str) -> str:
    return path.replace(".", "_").replace("*", "any")


def _per_item(spec: TypeSpec) -> dict[str, list[Field]]:
    """`head.*.tail` fields by head (the tail read through `for_each`)."""
    out: dict[str, list[Field]] = {}
    for f in spec.fields:
        head, star, tail = f.path.partition(".*.")
        if star and f.is_read:
            out.setdefault(head, []).append(f)
    return out


def _type_terraform(ctype: str, spec: TypeSpec, i: int, styled: bool) -> dict[str, str]:
    local = "cfg" if styled and i % 3 == 1 else "config"
    root = f"local.{local}"
    per_item = _per_item(spec)
    wholes = {f.path[:-2] for f in spec.fields if f.path.endswith(".*") and f.path.count("*") == 1}
    groups: dict[str, list[Field]] = {}
    body = ['resource "terraform_data" "component" {', "  input = {"]
    for j, f in enumerate(spec.fields):
        if not f.is_read or "*" in f.path or f.path in per_item:
            continue
        if f.kind == "group":
            groups.setdefault(f.arg, []).append(f)
        elif f.path in wholes:
            body.append(f"    {_key(f.path)} = jsonencode(try({root}.{f.path}, {{}}))")
        else:
            body.append(f"    {_key(f.path)} = {_read(root, f, f.path, j, styled)}")
    for whole in sorted(wholes - {f.path for f in spec.fields}):  # user-named keys without a node
        body.append(f"    {_key(whole)} = jsonencode(try({root}.{whole}, {{}}))")
    body += ["    tags = local.tags", "  }", "}"]
    blocks = ["\n".join(body)]
    for g, fields in sorted(groups.items()):
        flag = next((f for f in fields if f.path.startswith("enable_")), None)
        cond = f"try({root}.{flag.path}, false)" if flag else f"can({root}.{fields[0].path})"
        block = [f'resource "terraform_data" "{g}" {{', f"  count = {cond} ? 1 : 0", "  input = {"]
        block += [f"    {_key(f.path)} = {root}.{f.path}" for f in fields if f is not flag]
        blocks.append("\n".join([*block, "  }", "}"]))
    for head, fields in sorted(per_item.items()):
        block = [f'resource "terraform_data" "{_key(head)}" {{', f"  for_each = try({root}.{head}, {{}})"]
        block.append("  input = {")
        for j, f in enumerate(fields):
            tail = f.path.removeprefix(f"{head}.*.")
            if tail.endswith(".*"):
                continue  # read whole with its node
            if any(g.path == f"{f.path}.*" for g in fields):
                block.append(f"    {_key(tail)} = jsonencode(try(each.value.{tail}, {{}}))")
            else:
                block.append(f"    {_key(tail)} = {_read('each.value', f, tail, j, styled)}")
        blocks.append("\n".join([*block, "  }", "}"]))
    header = _HEADER.format(ctype=ctype, local=local)
    if styled:
        return {
            f"components/{ctype}/header.tf": header,
            f"components/{ctype}/main.tf": "\n\n".join(blocks) + "\n",
        }
    return {f"components/{ctype}/main.tf": "\n".join([header, *blocks]) + "\n"}


def catalog_terraform(styled: bool = False) -> dict[str, str]:
    """Relative path -> .tf text, for every component type of the catalogue."""
    files: dict[str, str] = {}
    for i, (ctype, spec) in enumerate(sorted(SPECS.items())):
        files.update(_type_terraform(ctype, spec, i, styled))
    if styled:
        files["modules/tagging/main.tf"] = 'variable "tags" {}\noutput "tags" { value = var.tags }\n'
    return files


def write_terraform(files: dict[str, str], root: Path | str) -> Path:
    root = Path(root)
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root
