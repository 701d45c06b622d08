"""A content written again (a revert, a promotion to the next environment) is read and parsed once,
and the history's tables are the same as when every version is read; the blob reader streams."""

from __future__ import annotations

import json
import random

import pandas.testing as pdt
import pytest

from karma_pipelines.contracts.config_fields import config_hash
from karma_pipelines.contracts.redaction import redact, redact_text
from karma_pipelines.sources.git import extract_git_history, file_versions
from karma_pipelines.sources.git.blobs import BlobReader, GitError
from karma_pipelines.sources.git.log import find_git_dir
from karma_pipelines.sources.git.state import content_key, files_key
from tests.test_git_source import GitRepo, cfg

LAYOUT = "iac/{env}/{component_type}/{nickname}/config.json"
TABLES = ("deploy_records", "config_snapshots", "quarantined", "reapplied", "rollback_evidence")


def _history(tmp_path) -> GitRepo:
    repo = GitRepo(tmp_path / "repo")
    v1, v2 = cfg({"image": "app:v1", "db_password": "hunter2"}), cfg({"image": "app:v2", "db_password": "x"})
    bad = "{not json\n"
    repo.commit(0, "create", {"iac/dev/ecs-service/app/config.json": v1, "iac/dev/vpc/bad/config.json": bad})
    repo.commit(1, "v2 in dev", {"iac/dev/ecs-service/app/config.json": v2})
    repo.commit(2, "promote to prod", {"iac/prod/ecs-service/app/config.json": v2})  # the same blob
    repo.commit(3, 'Revert "v2 in dev"', {"iac/dev/ecs-service/app/config.json": v1})  # v1 again
    repo.commit(4, "bad in prod too", {"iac/prod/vpc/bad/config.json": bad})  # the same unparsable blob
    return repo


def test_a_content_read_again_is_not_asked_of_git_and_the_tables_are_the_same(tmp_path, monkeypatch):
    repo = _history(tmp_path)
    asked: list[str] = []
    request = BlobReader.request
    monkeypatch.setattr(
        BlobReader, "request", lambda self, shas: (asked.extend(shas), request(self, shas))[1]
    )
    kept = extract_git_history(repo.path, layout=LAYOUT)
    assert len(asked) == len(set(asked)) == 3  # v1, v2, bad: each once
    reasons = sorted(kept.quarantined["reasons"])
    assert [r.split(":")[0] for r in reasons] == [
        "parse_error(iac/dev/vpc/bad/config.json)",
        "parse_error(iac/prod/vpc/bad/config.json)",
    ]  # the reason of a content seen before names its own path
    assert "hunter2" not in kept.config_snapshots["config_json"].str.cat()
    monkeypatch.setattr(file_versions, "RECENT", 0)  # nothing kept: every version read and parsed
    asked.clear()
    every = extract_git_history(repo.path, layout=LAYOUT)
    assert len(asked) == 6  # every file written
    for table in TABLES:
        pdt.assert_frame_equal(getattr(kept, table), getattr(every, table), check_exact=True)
    assert kept.deploy_records["action"].tolist() == ["create", "update", "create", "rollback"]


def test_the_blob_reader_answers_requests_made_while_it_reads(tmp_path):
    repo = _history(tmp_path)
    git_dir = find_git_dir(repo.path)
    shas = repo.git("rev-list", "--objects", "--all").split()
    blobs = [s for s in shas if len(s) == 40 and repo.git("cat-file", "-t", s) == "blob"]
    with BlobReader(git_dir, 1 << 20) as reader:
        reader.request(blobs[:1])
        first = reader.next()
        reader.request([*blobs[1:], "0" * 40])
        rest = [reader.next() for _ in range(len(blobs))]
    assert [b.sha for b in [first, *rest]] == [*blobs, "0" * 40]
    assert [b.data for b in [first, *rest[:-1]]] == [
        repo.git("cat-file", "blob", s).encode() + b"\n" for s in blobs
    ]
    assert (rest[-1].size, rest[-1].data) == (-1, None)  # missing
    reader = BlobReader(git_dir, 1 << 20)
    reader.request(blobs)
    reader.next()
    with pytest.raises(GitError, match="asked for were not read"):
        reader.close()


def test_a_files_key_is_the_content_key_of_its_triples():
    rng = random.Random(7)
    alphabet = ["a", "/", '"', "\\", "\n", "é", "\u2028", "\udcff", "\x7f", "\x00"]
    for _ in range(200):
        files = [
            tuple("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6))) for _ in range(3))
            for _ in range(rng.randint(0, 3))
        ]
        assert files_key(files) == content_key(files)


def _redact_text_in_full(text: str) -> str:
    """`redact_text` without its quick tests: every pattern tried in turn."""
    from karma_pipelines.contracts import redaction as r

    if not r._ANY.search(text):
        return text
    if r._TOKEN.fullmatch(text.strip()):
        return r.REDACTED
    text = r._URL_PASSWORD.sub(lambda m: f"{m[1]}{r.REDACTED}{m[3]}", text)
    text = r._TOKEN.sub(r.REDACTED, text)
    text = r._PHRASE.sub(lambda m: f"{m[1]}{m[2]}{r.REDACTED}", text)
    return r._WORD.sub(lambda m: r.REDACTED if r._high_entropy(m[0]) else m[0], text)


def test_redact_text_quick_tests_change_nothing():
    rng = random.Random(3)
    parts = [
        "paſſword=x",
        "PASSWORD: y",
        "token is t0k",
        "api-key=k",
        "ApI_KeY z",
        "postgres://u:p@h/db",
        "AKIA" + "A" * 16,
        "ghp_" + "a1" * 12,
        "eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl",
        "xoxb-1234567890",
        "aB3dE5gH7jK9mN1pQ3sT5vX7zA",
        "sqs-queue/billing-events-prod",
        " ",
        "ı",
        "v1.2.3",
        "-----BEGIN ",
    ]
    texts = ["".join(rng.choice(parts) for _ in range(rng.randint(1, 4))) for _ in range(500)]
    for text in texts:
        assert redact_text.__wrapped__(text) == _redact_text_in_full(text), text


def test_a_document_redaction_leaves_alone_gives_its_snapshot_text_from_its_raw_text(tmp_path):
    repo = GitRepo(tmp_path / "repo")
    configs = {
        "plain": {"image": "app:v1", "n": 1.5, "flag": True, "none": None},
        "accent": {"note": "caf\u00e9"},  # escaped in the snapshot text, not in the raw one
        "delete": {"note": "a\x7fb"},  # DEL: ASCII, but escaped in the snapshot text
        "secret": {"db_password": "hunter2"},
    }
    repo.commit(0, "create", {f"iac/dev/vpc/{name}/config.json": cfg(c) for name, c in configs.items()})
    snapshots = extract_git_history(repo.path, layout=LAYOUT).config_snapshots.set_index("component")
    for name, config in configs.items():
        expected = json.dumps(redact(config), sort_keys=True, separators=(",", ":"), default=str)
        assert snapshots.loc[f"vpc/{name}", "config_json"] == expected
        assert snapshots.loc[f"vpc/{name}", "config_hash"] == config_hash(redact(config))
