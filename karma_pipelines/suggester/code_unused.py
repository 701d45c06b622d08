"""Unused fields from the Terraform: a field a config sets that no Terraform of its type reads.

Corpus evidence can never call a field that every config of a type sets unused; the code can. With
code evidence for a type, every present field its Terraform never reads is `unused` (an unread
subtree once, at its top-most unread prefix) with the reason "set in N configs of <type>, read by
none of its Terraform", and a field the code reads by name is never flagged unused, whatever the
model says (inside a subtree the code only passes on whole, such as a bag of environment variables,
the model's misspelling flags stay: the code does not know those keys).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from functools import lru_cache

from karma_pipelines.suggester.code_evidence import CodeEvidence, TypeCode
from karma_pipelines.suggester.corpus import Corpus

TERRAFORM = "terraform"  # the `evidence` of an unused suggestion made from the code
_MISSPELT = "looks like a misspelling of"  # the model's reason for a near-miss name (`suggestions`)


def unread_root(code: TypeCode, path: str) -> str | None:
    """The top-most prefix of `path` that the type's Terraform never reads; None when it reads `path`."""
    if code.is_read(path):
        return None
    parts = path.split(".")
    for i in range(1, len(parts) + 1):
        prefix = ".".join(parts[:i])
        if not code.is_read(prefix):
            return prefix
    return path


def _config_fields(fields) -> list[str]:
    return [f for f in fields if not f.startswith("@")]


def unread_fields(corpus: Corpus, code: CodeEvidence, rows=None) -> dict[int, dict[str, int]]:
    """Per row of a type with code evidence: its unread roots -> how many configs of its type set them."""
    types = corpus.configs["component_type"].to_numpy()
    cached: dict[str, object] = {}

    def roots_of(row: int) -> set[str]:
        ctype = str(types[row])
        if ctype not in cached:
            cached[ctype] = lru_cache(maxsize=None)(lambda p, c=code.types[ctype]: unread_root(c, p))
        find = cached[ctype]
        return {r for r in (find(f) for f in _config_fields(corpus.fields[row])) if r is not None}

    with_code = [i for i in range(len(corpus)) if code.has(str(types[i]))]
    per_row = {i: roots_of(i) for i in with_code}
    counts: dict[str, Counter] = defaultdict(Counter)
    for i, found in per_row.items():
        counts[str(types[i])].update(found)
    wanted = per_row if rows is None else {i: per_row[i] for i in rows if i in per_row}
    return {i: {r: counts[str(types[i])][r] for r in found} for i, found in wanted.items()}


def unused_reason(n: int, ctype: str) -> str:
    return f"set in {n} config{'' if n == 1 else 's'} of {ctype}, read by none of its Terraform"


def _corpus_part(flags: list[dict], ctype: str) -> list[str]:
    """What the model's reason adds besides the code (a misspelling, no other config sets it)."""
    code_words = (f"no {ctype} Terraform", f"(the {ctype} Terraform")
    return [p for s in flags for p in s["reason"].split("; ") if not p.startswith(code_words)]


def with_code_unused(
    model: dict[int, list[dict]], corpus: Corpus, code: CodeEvidence, rows, top: int
) -> dict[int, list[dict]]:
    """The model's unused suggestions per row, corrected by the code for rows whose type has code
    evidence: fields it never reads added (score 1.0, evidence `terraform`; the model's reason
    appended where it flagged them too), top-level ones first; the model's other flags dropped, but
    for a misspelling inside a subtree the code only passes on whole (`environment = local.config.env`:
    it never names those keys, so a misspelt variable name there is still the model's to flag)."""
    types = corpus.configs["component_type"].to_numpy()
    unread = unread_fields(corpus, code, rows)
    out = {}
    for row in sorted(set(model) | set(unread)):
        ctype = str(types[row])
        if not code.has(ctype):
            out[row] = model[row]
            continue
        found = unread.get(row, {})
        flagged: dict[str, list[dict]] = defaultdict(list)  # unread root -> the model's flags under it
        passed_on = []  # the model's flags inside a subtree the code uses whole (an env-var bag)
        for s in model.get(row, []):
            root = unread_root(code.types[ctype], s["field"])
            if root is not None:
                flagged[root].append(s)
            elif code.types[ctype].read_kind(s["field"]) == "covered" and _MISSPELT in s["reason"]:
                passed_on.append(s)
        items = []
        for root, n in found.items():
            by_model = flagged.get(root, [])
            reason = "; ".join([unused_reason(n, ctype), *_corpus_part(by_model[:1], ctype)])
            best = max((s["score"] for s in by_model), default=0.0)
            items.append(((root.count("."), -best, -n, root), {"field": root, "score": 1.0, "reason": reason,
                                                              "evidence": TERRAFORM}))  # fmt: skip
        items.sort(key=lambda pair: pair[0])
        picked = [item for _, item in items] + passed_on
        if picked:
            out[row] = picked[:top]
    return out
