"""What the code evidence found, per component type: folders, files parsed or not (and why), fields
read, config roots recognised; as one dict per type (JSON, Dagster metadata) and as text lines."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from karma_pipelines.suggester.code_evidence import CodeEvidence


def type_report(code: CodeEvidence, corpus_types: Iterable[str] = ()) -> dict[str, dict]:
    """Per type (of the Terraform, and of the corpus when given): what the code evidence holds."""
    out: dict[str, dict] = {}
    for ctype, tc in sorted(code.types.items()):
        failed = [f for f in tc.files if f["failures"]]
        out[ctype] = {
            "folders": list(tc.folders),
            "files_parsed": sum(1 for f in tc.files if not f["failures"]),
            "files_failed": failed,
            "fields_read": sorted(tc.fields()),
            "reads_everything": tc.reads_everything,
            "config_roots": [r.as_dict() for r in tc.roots if r.is_config],
            "not_config": [r.as_dict() for r in tc.roots if not r.is_config],
            "modules_followed": list(tc.modules),
        }
    for skipped in code.skipped:
        ctype = skipped["component_type"]
        if ctype in out:
            out[ctype].setdefault("skipped_folders", []).append(
                {"folder": skipped["folder"], "why": skipped["why"]}
            )
            continue
        out[ctype] = {
            "folders": [skipped["folder"]],
            "config_roots": [],
            "why_no_code_evidence": skipped["why"],
        }
    for ctype in sorted(set(corpus_types) - set(out)):
        out[ctype] = {
            "folders": [],
            "config_roots": [],
            "why_no_code_evidence": f"no Terraform folder named {ctype}",
        }
    return dict(sorted(out.items()))


def _root_text(root: dict) -> str:
    where = f", {root['file']}:{root['line']}" if root["file"] else ""
    return f"{root['name']} ({root['source']}{where})"


def _fields_text(r: dict, shown: int = 10) -> str:
    if r["reads_everything"]:
        return "every field (the whole config is used as a value)"
    names = r["fields_read"]
    more = f", … {len(names) - shown} more" if len(names) > shown else ""
    return f"{len(names)} ({', '.join(names[:shown])}{more})" if names else "none"


def report_lines(code: CodeEvidence, corpus_types: Iterable[str] = ()) -> list[str]:
    """The per-type report as text, one block per type."""
    report = type_report(code, corpus_types)
    with_roots = sum(1 for r in report.values() if r["config_roots"])
    lines = [f"code evidence from {code.root}: {with_roots} of {len(report)} type(s) with a config root"]
    for ctype, r in report.items():
        if "why_no_code_evidence" in r:
            where = f" ({', '.join(r['folders'])})" if r["folders"] else ""
            lines.append(f"  {ctype}{where}: no code evidence: {r['why_no_code_evidence']}")
            continue
        statuses = Counter(f["status"] for f in r["files_failed"])
        files = ", ".join(
            [f"{r['files_parsed']} file(s) parsed", *(f"{n} {s}" for s, n in sorted(statuses.items()))]
        )
        lines.append(f"  {ctype} ({', '.join(r['folders'])}): {files}; fields read: {_fields_text(r)}")
        lines.append("    config roots: " + ", ".join(_root_text(x) for x in r["config_roots"]))
        if r["not_config"]:
            others = ", ".join(f"{x['name']} ({x['source']}: {x['why_not']})" for x in r["not_config"])
            lines.append(f"    decoded, not its config: {others}")
        if r["modules_followed"]:
            lines.append("    modules followed: " + ", ".join(r["modules_followed"]))
        for f in r["files_failed"]:
            for failure in f["failures"]:
                block = f" in {failure['block']}" if failure["block"] else ""
                lines.append(
                    f"    {f['status']}: {failure['file']}:{failure['line']}{block}: {failure['message']}"
                    f" ({failure['outcome']})"
                )
        for skipped in r.get("skipped_folders", []):
            lines.append(f"    skipped {skipped['folder']}: {skipped['why']}")
    return lines
