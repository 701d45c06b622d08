"""A big YAML file parsed block by block (only the top-level entries that changed since an earlier
version) is the same document as parsed whole, or it is parsed whole."""

from __future__ import annotations

import pytest

from karma_pipelines.sources.git import yaml_blocks
from karma_pipelines.sources.git.parse import block_cache, parse_config
from karma_pipelines.sources.git.yaml_split import split_nested

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


def _versions() -> list[str]:
    """Versions of a few-entries file whose big entry's items define and use anchors of their own (one
    defined again, as govuk's `values-integration.yaml` does), several changed at a time."""

    def text(changed: frozenset[int] = frozenset(), again: bool = False, dup: bool = False) -> str:
        apps = []
        for i in range(800):
            body = f"    r: {9 if i in changed else 2}\n"
            if i % 50 == 0:
                body += f"    size: &size{i % 100} {i}M\n"  # size0 and size50, each defined again
            elif i % 7 == 0:
                body += f"    size: *size{(i // 50) * 50 % 100}\n    pdb: *pdb\n"
            if again and i == 120:
                body += "    other: &size0 again\n"  # an anchor of another item defined again
            apps.append(f"  - name: app-{i}\n{body}")
        if dup:
            apps.append("  - name: app-3\n    r: 1\n")  # a list item may repeat
        return HEAD + "apps:\n" + "".join(apps) + "tail: 1\n"

    return [
        text(),
        text(frozenset({5})),
        text(frozenset({5, 6, 7, 8, 70})),  # several new items, some sharing their anchor-defining ones
        text(frozenset(range(0, 800, 3))),
        text(frozenset({5, 6, 7}), again=True),
        text(frozenset({9, 10, 11, 121, 122}), again=True),
        text(frozenset({1, 2}), dup=True),
        text(frozenset({1, 2, 4}), dup=True).replace("  - name: app-4\n", "  - name: app-4\n    1: one\n"),
    ]


def test_new_items_parsed_together_are_kept_as_each_parsed_alone(monkeypatch):
    """Items new to the cache are parsed in one text with the entries that define their anchors: the
    same documents as whole parses, and the same cache (values, node counts) as one parse per item."""
    loads = []
    counted = yaml_blocks.load
    monkeypatch.setattr(
        yaml_blocks, "load", lambda text, loader: (loads.append(text), counted(text, loader))[1]
    )
    together = block_cache()
    for text in _versions():
        assert _both("values.yaml", text.encode(), together).shared  # made from the cache's blocks
    parsed_together = len(loads)
    monkeypatch.setattr(yaml_blocks.BlockCache, "_parse_together", lambda self, *args: None)
    alone = block_cache()
    loads.clear()
    for text in _versions():
        _both("values.yaml", text.encode(), alone)
    assert together._blocks == alone._blocks
    assert parsed_together < len(loads) / 10


def test_a_mapping_of_entries_parsed_together_is_as_parsed_alone(monkeypatch):
    def text(changed: int, key: str = "") -> bytes:
        entries = "".join(
            f"  app{i}:\n    r: {changed if i % 5 == 0 else 1}\n    p: *pdb\n" for i in range(900)
        )
        return (HEAD + "apps:\n" + entries + key + "tail: 1\n").encode()

    versions = [text(1), text(2), text(3, key="  app7: {r: 2}\n"), text(4, key="  7: {r: 2}\n")]
    together = block_cache()
    docs = [_both("values.yaml", v, together) for v in versions]
    assert all(parsed.shared for parsed in docs)
    docs = [parsed.doc for parsed in docs]
    assert docs[2]["apps"]["app7"] == {"r": 2} and docs[3]["apps"]["7"] == {"r": 2}
    monkeypatch.setattr(yaml_blocks.BlockCache, "_parse_together", lambda self, *args: None)
    alone = block_cache()
    for v in versions:
        _both("values.yaml", v, alone)
    assert together._blocks == alone._blocks


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_big_entry_splits_at_its_lines_whatever_their_breaks(newline):
    body = "  # first\n  - a: 1\n    b: |\n      text\n\n  - c\n  # between\n  - d: [1]".replace(
        "\n", newline
    )
    assert split_nested(body) == (
        True,
        [
            body[: body.index("  - c")],
            body[body.index("  - c") : body.index("  - d")],
            body[body.index("  - d") :],
        ],
    )
    other = "  - a: 1\x0c\n  - b\n"  # a form feed: `str.splitlines` breaks there too (each line read)
    assert split_nested(other) == (True, ["  - a: 1\x0c\n", "  - b\n"])
    assert split_nested("  a: 1\n  b:\n  - x\n  c: 2") == (False, ["  a: 1\n", "  b:\n  - x\n", "  c: 2"])
    assert split_nested("  a: 1\n b: 2\n") is None  # shallower than the first entry
