"""Redaction and flattening entry by entry, once per entry object: the same results as whole."""

from __future__ import annotations

import datetime

from karma_pipelines.contracts.config_fields import compact_json, flatten, parsed_compact_json
from karma_pipelines.contracts.entry_memo import EntryMemo, flatten_entries
from karma_pipelines.contracts.redaction import REDACTED, redact, redact_entries
from karma_pipelines.sources.git.parse import block_cache, parse_config

CONFIGS = [
    {},
    {"a": 1},
    {"db_password": "hunter2hunter2", "image": {"tag": "v1", "token": "x"}, "empty": {}},
    {"name": "DB_PASSWORD", "value": "s3cret-value"},  # the document itself a name/value pair
    {"env": [{"name": "API_KEY", "value": "abc"}, {"name": "MODE", "value": "fast"}], "secrets": ["a"]},
    {"values.yaml": {"image": {"tag": "1.2"}, "replicas": 3}, "values-prod.yaml": {"replicas": 5}},
    {"x": {"y": {"z": {"w": [1, {"password": "p"}]}}}, "note": "ghp_" + "a1B2" * 9},
]


def test_entry_by_entry_equals_whole():
    memo = EntryMemo()
    for config in CONFIGS:
        for _ in range(2):  # the second time from the memo
            assert redact_entries(config, memo) == redact(config)
            assert flatten_entries(config, memo) == flatten(config)
    assert redact_entries(CONFIGS[2], memo)["db_password"] == REDACTED


def _yaml(projects: list[str], descriptions: dict[str, str]) -> bytes:
    items = [f"- project: {p}\n  description: {descriptions.get(p, 'about ' + p)}\n" for p in projects]
    return "".join(items).encode()


def test_an_unchanged_block_is_worked_on_once():
    """A big YAML file's next version shares its unchanged blocks (the block cache), so their
    redacted and flattened copies are the same objects, and a changed block gets new ones."""
    projects = [f"openstack/p{i:03d}" for i in range(400)]
    blocks, memo = block_cache(), EntryMemo()
    v1 = parse_config("gerrit/projects.yaml", _yaml(projects, {}), blocks).doc
    v2 = parse_config("gerrit/projects.yaml", _yaml(projects, {"openstack/p007": "changed"}), blocks).doc
    r1, r2 = redact_entries(v1, memo), redact_entries(v2, memo)
    same, changed = "project:openstack/p001", "project:openstack/p007"
    assert r1[same] is r2[same] and r1[changed] is not r2[changed]
    assert r2 == redact(v2) and flatten_entries(r2, memo) == flatten(r2)
    assert flatten_entries(r2, memo)[f"{changed}.description"] == "changed"


def test_entry_texts_join_to_the_whole_text():
    import json

    from karma_pipelines.contracts.config_fields import compact_json
    from karma_pipelines.contracts.entry_memo import compact_text
    from karma_pipelines.sources.git.state import content_key

    memo = EntryMemo()
    more = [{"ünï": {"ö": "ß"}, "a": [1, {"b": None}], "n": 1.5}, {"f": {"v": {"deep": {}}}}]
    for config in [*CONFIGS, *more]:
        for _ in range(2):
            assert compact_text(config, memo) == compact_json(config)
            whole = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
            assert compact_text(config, memo, ensure_ascii=False) == whole
            assert content_key(config, memo) == content_key(config)


def test_the_items_of_a_big_list_are_worked_on_once():
    """govuk's `values-<env>.yaml`: a few top-level keys, one of them a list of a hundred apps (split
    at its own level by the block cache). Each app's redacted copy and JSON text are made once; the
    results are those of the whole document."""
    import json

    from karma_pipelines.contracts.entry_memo import compact_text

    def values(changed: int) -> bytes:
        apps = "".join(
            f"  - name: app-{i}\n    env:\n      - name: API_TOKEN\n        value: t{i}\n"
            f"    secrets: [a, b]\n    replicas: {9 if i == changed else 2}\n"
            for i in range(600)
        )
        return ("# apps\nglobal: {x: 1}\ngovukApplications:\n" + apps + "tail: 1\n").encode()

    blocks, memo = block_cache(), EntryMemo()
    v1, v2 = (parse_config("values-production.yaml", values(c), blocks).doc for c in (5, 7))
    r1, r2 = redact_entries(v1, memo), redact_entries(v2, memo)
    assert r1 == redact(v1) and r2 == redact(v2)
    apps1, apps2 = r1["govukApplications"], r2["govukApplications"]
    assert apps1[3] is apps2[3] and apps1[5] is not apps2[5] and apps1[7] is not apps2[7]
    assert apps2[0]["env"][0]["value"] == REDACTED and apps2[0]["secrets"] == REDACTED
    for doc in (r1, r2, {"top": r2, "other": [r1]}):
        whole = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert compact_text(doc, memo, ensure_ascii=False) == whole


def test_parsed_documents_are_written_as_json_writes_them():
    """orjson writes these differently (NaN, small floats, exponents, big integers, DEL, a lone
    surrogate, non-string keys, dates): the text must still be json's, with and without ensure_ascii."""
    values = [
        float("nan"), float("inf"), 1e-05, 5.2e-05, 0.0001, 1e16, 1.5e-300, -0.0, 0.1, 2**64, -(2**63) - 1,
        2**63, "é€😀", "\x7f", "\x00\x1f\n\t\"\\", "\ud800", "1e-5 in text", None, True,
        datetime.date(2020, 1, 2), datetime.datetime(2020, 1, 2, 3, 4, 5, 6), b"\x00", (1, "a"),
        [{"b": 1, "a": 2}],
    ]  # fmt: skip
    docs = [{"k": v, "a": [v]} for v in values] + [{1: "x"}, {"é": 1, "e": 2, "😀": 3}, {"x": {"y": {}}}]
    for doc in docs:
        for ascii in (True, False):
            assert parsed_compact_json(doc, ascii) == compact_json(doc, ascii), (doc, ascii)
