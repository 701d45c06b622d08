"""A history's tables are the same whichever way its files are parsed: a big YAML file's new entries
parsed together, one at a time, or the file whole; JSON by orjson or by `json`."""

from __future__ import annotations

import json

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
