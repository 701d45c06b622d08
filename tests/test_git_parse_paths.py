"""A history's tables are the same whichever way its files are parsed: a big YAML file's new entries
parsed together, one at a time, or the file whole; JSON by orjson or by `json`; tiny `key: value`
files read directly or by a YAML load."""

from __future__ import annotations

import json
import random

import pandas.testing as pdt
import pytest

from karma_pipelines.sources.git import extract_git_history, parse, yaml_blocks
from karma_pipelines.sources.git.blobs import BlobReader
from karma_pipelines.sources.git.log import find_git_dir
from tests.test_git_file_versions import TABLES
from tests.test_git_source import GitRepo
from tests.test_yaml_blocks import _versions

VALUES = "charts/{nickname}/values-{env}.yaml"


def _same_tables(a, b) -> None:
    for table in TABLES:
        pdt.assert_frame_equal(getattr(a, table), getattr(b, table), check_exact=True, obj=table)


def test_a_big_values_file_gives_the_same_tables_whether_its_entries_are_parsed_together_or_not(
    tmp_path, monkeypatch
):
    repo = GitRepo(tmp_path / "repo")
    for i, text in enumerate(_versions()):
        files = {"charts/apps/values-staging.yaml": text}
        if i % 2:
            files["charts/apps/values-production.yaml"] = text  # promoted: the same content again
        repo.commit(i, f"apps: change {i}", files)
    together = extract_git_history(repo.path, layout=VALUES)
    assert len(together.deploy_records) == 12
    monkeypatch.setattr(yaml_blocks.BlockCache, "_parse_together", lambda self, *args: None)
    _same_tables(together, extract_git_history(repo.path, layout=VALUES))  # one entry at a time
    monkeypatch.setattr(yaml_blocks, "MIN_BYTES", 1 << 30)  # every version parsed whole
    _same_tables(together, extract_git_history(repo.path, layout=VALUES))


JSON_TEXTS = [
    '{"a": 1, "b": [1.5, -0.0, 1e-7, 1e400, true, null], "c": {"d": "\\u00e9\\ud83d\\ude00"}}',
    '{"big": 123456789012345678901234567890, "n": -9223372036854775809}',  # past 64 bits
    '{"a": NaN, "b": Infinity}',  # what `json` reads and orjson refuses
    '{"a": 1, "a": 2, "b": 3}',  # a key given twice: the later one, in the first place
    '{"lone": "\\ud800"}',
    "[" * 300 + "]" * 300,
    '{"a": [' + "[" * 2000 + "]" * 2000 + "]}",  # deeper than orjson goes
    '{"a": 1,}',
    "{a: 1}",
    '\ufeff{"bom": 1}',
    '{"a": "tab\there"}',
    "",
]


@pytest.mark.parametrize("text", JSON_TEXTS)
@pytest.mark.parametrize("path", ["config.json", "image-tags/production/router"])
def test_json_read_by_orjson_is_the_document_and_the_error_json_gives(text, path, monkeypatch):
    data = text.encode("utf-8", "surrogatepass")
    fast = parse.parse_config(path, data)
    monkeypatch.setattr(parse, "loads_json", json.loads)
    plain = parse.parse_config(path, data)
    assert (fast.doc, fast.reason) == (plain.doc, plain.reason)
    if fast.doc is not None:
        assert json.dumps(fast.doc) == json.dumps(plain.doc)  # key order, and 1 stays 1 (not 1.0)


def test_blobs_are_sent_to_git_at_once_while_it_has_few_left_to_answer(tmp_path):
    repo = GitRepo(tmp_path / "repo")
    repo.commit(0, "files", {f"f{i}.txt": f"{i}\n" for i in range(3)})
    blobs = repo.git("ls-tree", "--object-only", "HEAD").split()
    with BlobReader(find_git_dir(repo.path), 1 << 20) as reader:
        reader.request(blobs[:1])
        assert reader._unsent == []  # git looks for it while the caller does something else
        reader.request(blobs[1:])
        assert [reader.next().data for _ in blobs] == [f"{i}\n".encode() for i in range(3)]


SIMPLE = [  # what `yaml_flat` reads: typed as a YAML load types them
    *("on", "off", "yes", "No", "TRUE", "y", "n", "null", "Null", "NULL", "true", "False", "inf", "nan"),
    *("0x1F", "0o17", "017", "08", "0b101", "1_000", "1.5", "1e3", "0.", "1_0.5", "2001-12-14", "2002-1-1"),
    *("v1808", "sha-abc123", "a/b", "a.b", "_", "__init__", "1-2", "a-", "x" * 300, "0", "1", "123456789012"),
]
TRICKY = [  # what it leaves to the load
    *("~", "-1", "+1", ".5", "1.0e+3", "2001-12-14t21:59:43.10-05:00", "1:30", "190:20:30", ".inf", "="),
    *(
        "<<",
        "a b",
        "x#y",
        "x #y",
        "é",
        "-",
        "'q'",
        '"q"',
        "[1]",
        "{a: 1}",
        "&a x",
        "*a",
        "!!str 1",
        "|",
        "%x",
    ),
]


def test_flat_key_value_files_read_without_a_yaml_load_are_the_documents_a_load_makes(monkeypatch):
    """Tiny `key: value` files (image tags) are read by `yaml_flat` when they are that simple: the same
    document, or the same error, as a YAML load gives; every other text is loaded."""
    rng = random.Random(7)
    texts = ["image_tag: v1808\npromote_deployment: true\nautomatic_deploys_enabled: true\n", "a: 1", ""]
    for _ in range(3000):
        pick = lambda: rng.choice(TRICKY if rng.random() < 0.05 else SIMPLE)  # noqa: E731
        lines = [f"{pick()}: {pick()}" for _ in range(rng.randint(1, 4))]
        texts.append("\n".join(lines) + rng.choice(["\n", "\n", "\n", "", "\n\n", "\r\n", " \n"]))
    fast = [parse.parse_config(name, t.encode()) for t in texts for name in ("values.yaml", "tags/router")]
    read = parse._FLAT.read
    flat = sum(read(t) is not None for t in texts)
    assert flat > 1000  # the fast way was taken
    monkeypatch.setattr(parse._FLAT, "read", lambda text: None)
    loaded = [parse.parse_config(name, t.encode()) for t in texts for name in ("values.yaml", "tags/router")]
    for a, b in zip(fast, loaded, strict=True):
        assert (a.doc, a.reason) == (b.doc, b.reason)
        if a.doc is not None:
            assert [(k, type(v)) for k, v in a.doc.items()] == [(k, type(v)) for k, v in b.doc.items()]
