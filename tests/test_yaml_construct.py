"""YAML documents built directly (`yaml_construct`) are PyYAML's: the same values, or the same error."""

from __future__ import annotations

import pytest
import yaml

from karma_pipelines.sources.git.yaml_construct import fast, load, load_all

TEXTS = [
    "a: 1\nb: [x, 'y', 2.5, null, true, 2001-12-14, 0x1f, 1:20]\nc: {d: e}\n",
    "base: &b {x: 1, y: 2}\nlist: &l [1, 2]\nuse: *b\nmerged:\n  <<: *b\n  y: 3\n",
    "b: &b {x: 1, y: 2}\nboth: {<<: [*b, {z: 4}], w: 5}\nl2: &l [1]\nl3: *l\n",
    "? [a, b]\n: unhashable\n",  # a list as a key
    "self: &s\n  again: *s\n",  # a mapping that contains itself: PyYAML builds it, recursion cannot
    "a: {b: !nosuchtag 1}\nc: !othertag 2\n",  # two errors: PyYAML fills `a` later, so meets `c`'s first
    "x: {<<: [{a: 1}, scalar]}\n",  # a merge list with a scalar (PyYAML edits the node, then fails)
    "=: value-key\nk: {=: v}\n",
    "s: !!set {a, b}\no: !!omap [{a: 1}, {b: 2}]\nbin: !!binary aGVsbG8=\n",
    "",
    "just a string\n",
]


@pytest.mark.parametrize("text", TEXTS)
def test_documents_and_errors_are_pyyamls(text):
    for loader in (yaml.SafeLoader, yaml.CSafeLoader):
        try:
            want = ("ok", repr(yaml.load(text, Loader=loader)))
        except yaml.YAMLError as exc:
            want = ("error", str(exc))
        try:
            got = ("ok", repr(load(text, fast(loader))))
        except yaml.YAMLError as exc:
            got = ("error", str(exc))
        assert got == want


def test_an_alias_is_the_same_object_and_every_document_is_read():
    doc = load("a: &x {k: v}\nb: *x\n", fast(yaml.CSafeLoader))
    assert doc["a"] is doc["b"]
    text = "a: 1\n---\nself: &s {again: *s}\n---\nb: 2\n"  # the second document needs PyYAML's way
    assert repr(list(load_all(text, fast(yaml.CSafeLoader)))) == repr(
        list(yaml.load_all(text, yaml.CSafeLoader))
    )
