"""A big YAML file parsed block by block (only the top-level entries that changed since an earlier
version) is the same document as parsed whole, or it is parsed whole."""

from __future__ import annotations

import pytest

from karma_pipelines.sources.git.parse import block_cache, parse_config

HEAD = """\
# Defaults for all apps in this environment.

podDisruptionBudget: &pdb
  minAvailable: 1
_ingress-defaults: &ingress
  class: alb
  annotations:
    group: backend
on: push
"""


def _app(i: int, replicas: int = 2) -> str:
    return f"""\
app-{i}:
  <<: *ingress
  pdb: *pdb
  replicas: {replicas}
  env:
  - name: A
    value: "{i}"
  # a comment inside
  hosts:
  - app-{i}.example
"""


def _values(n: int = 300, **changes: int) -> bytes:
    apps = [_app(i, changes.get(f"app{i}", 2)) for i in range(n)]
    return (HEAD + "".join(apps) + "tail: [1, 2]\n").encode()


def _both(path: str, data: bytes, cache):
    whole = parse_config(path, data)
    fast = parse_config(path, data, cache)
    assert (fast.doc, fast.reason) == (whole.doc, whole.reason) and not whole.shared
    if whole.doc is not None:
        assert list(fast.doc) == list(whole.doc)  # key order too
    return fast


def test_blocks_parsed_once_and_the_same_document():
    cache = block_cache()
    first = _both("values.yaml", _values(), cache)
    assert first.shared  # made from the cache's blocks: its entries are worth memoising
    assert first.doc["app-7"]["class"] == "alb" and first.doc["app-7"]["pdb"] == {"minAvailable": 1}
    assert first.doc["true"] == "push"  # `on:` read as a boolean key, made a string
    parsed = len(cache._blocks)
    second = _both("values.yaml", _values(app5=9), cache)
    assert second.doc["app-5"]["replicas"] == 9
    assert len(cache._blocks) == parsed + 1  # only the changed entry was parsed again


def test_a_changed_anchor_reaches_every_alias():
    cache = block_cache()
    _both("values.yaml", _values(), cache)
    changed = _values().replace(b"minAvailable: 1", b"minAvailable: 2")
    doc = _both("values.yaml", changed, cache).doc
    assert doc["app-3"]["pdb"] == {"minAvailable": 2}


@pytest.mark.parametrize(
    "edit",
    [
        lambda t: t + b"app-1:\n  replicas: 5\n",  # a duplicate key: the later one wins, in place
        lambda t: t.replace(b"app-9:\n", b"app-9: [unclosed\n"),  # an error names the whole file's line
        lambda t: b"---\n" + t,  # a document marker: parsed whole
        lambda t: t + b"---\nsecond: doc\n",  # several documents
        lambda t: t.replace(b"tail: [1, 2]\n", b"tail: [1,\n2]\n"),  # a flow list over two lines
        lambda t: t.replace(b"app-4:\n", b"? app-4\n:\n"),  # an explicit key
        lambda t: t.replace(b"on: push\n", b"  indented: before\non: push\n"),
        lambda t: t.replace(b"hosts:\n  - app-3", b"hosts:\n\t- app-3"),  # a tab
    ],
)
def test_texts_that_cannot_be_split_are_parsed_whole(edit):
    cache = block_cache()
    _both("values.yaml", _values(), cache)
    _both("values.yaml", edit(_values()), cache)


def test_a_top_level_list_of_named_items_is_keyed_by_name():
    items = "".join(f"- project: org/p{i}\n  description: project {i} &co\n" for i in range(600))
    cache = block_cache()
    fast = _both("projects.yaml", items.encode(), cache)
    assert len(fast.doc) == 600 and fast.doc["project:org/p7"] == {
        "project": "org/p7",
        "description": "project 7 &co",
    }
    assert len(cache._blocks) == 600
    jobs = "".join(f"- job:\n    name: j{i % 300}\n    parent: base\n" for i in range(600)).encode()
    doc = _both("zuul.d/jobs.yaml", jobs, block_cache()).doc
    assert doc["job:j5"] == {"name": "j5", "parent": "base"} and "job:j5#2" in doc
    scalars = "".join(f"- item-{i}\n" for i in range(3000)).encode()
    refused = _both("list.yaml", scalars, block_cache())
    assert refused.reason == "parse_error(list.yaml): top level is a list, expected a mapping"


def _few(n: int = 2000, changed: int | None = None, anchor: str = "") -> bytes:
    """Few top-level entries, one of them most of the file: govuk's `values-<env>.yaml`."""
    apps = "".join(
        f"  - name: app-{i}\n    pdb: *pdb\n    replicas: {9 if i == changed else 2}\n" for i in range(n)
    )
    return (HEAD + "apps:\n" + apps + anchor + "tail: 1\n").encode()


def test_a_big_entry_of_few_is_split_at_its_own_level():
    cache = block_cache()
    assert len(_few()) > 16 << 10
    first = _both("values.yaml", _few(), cache)
    assert first.doc["apps"][7] == {"name": "app-7", "pdb": {"minAvailable": 1}, "replicas": 2}
    parsed = len(cache._blocks)
    second = _both("values.yaml", _few(changed=5), cache)
    assert second.doc["apps"][5]["replicas"] == 9
    assert len(cache._blocks) == parsed + 1  # only the changed item was parsed again


@pytest.mark.parametrize(
    "text",
    [
        # an anchor defined twice: a whole parse refuses it (and says where)
        _few(anchor="again: &pdb {minAvailable: 2}\n").decode(),
        _few(anchor="again:\n  - &pdb x\n").decode(),
        # items of the big entry that define and use their own anchors (split, the aliases resolved)
        HEAD + "apps:\n" + "".join(f"  - name: a{i}\n    r: &r{i} {i}\n    s: *r{i}\n" for i in range(1200)),
        # a mapping body with a merge key: parsed whole
        HEAD + "apps:\n  <<: *ingress\n" + "".join(f"  app{i}: {{r: {i}}}\n" for i in range(1500)),
        # a header that is not `key:` alone
        HEAD + "apps: &all\n" + "".join(f"  - name: app-{i}\n" for i in range(1500)),
    ],
)
def test_big_entries_give_the_whole_parse_document_or_are_parsed_whole(text):
    assert len(text) > 16 << 10
    _both("values.yaml", text.encode(), block_cache())


def test_an_anchor_defined_again_is_the_latest_definition_whole_or_in_blocks():
    """govuk-helm-charts' `values-integration.yaml` defines `&max-upload-size` in two apps; Helm (Go's
    YAML, and YAML 1.2) reads an alias as the latest node with that anchor, so the file is a config."""
    apps = "".join(
        f"  - name: app-{i}\n    body: {f'&size {i}M' if i in (3, 900) else '*size' if i > 3 else 'x'}\n"
        for i in range(1500)
    )
    text = (HEAD + "apps:\n" + apps + "tail: 1\n").encode()
    cache = block_cache()
    for blocks in (None, cache, cache):  # whole, then split (its blocks parsed), then from the cache
        doc = parse_config("values-integration.yaml", text, blocks).doc
        assert [doc["apps"][i]["body"] for i in (2, 3, 4, 899, 900, 901)] == [
            "x",
            "3M",
            "3M",
            "3M",
            "900M",
            "900M",
        ]
    small = parse_config("a.yaml", b"a: &x 1\nb: *x\nc: &x [2]\nd: *x\n").doc
    assert small == {"a": 1, "b": 1, "c": [2], "d": [2]}
    assert parse_config("a.yaml", b"a: *x\nb: &x 1\n").reason.startswith(
        "parse_error(a.yaml): found undefined alias"
    )
