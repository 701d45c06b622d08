"""A history's tables are the same whichever way its files are parsed: a big YAML file's new entries
parsed together, one at a time, or the file whole."""

from __future__ import annotations

import pandas.testing as pdt

from karma_pipelines.sources.git import extract_git_history, yaml_blocks
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
