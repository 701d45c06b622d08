"""The gate cannot be fooled: a champion serves one source (a version trained elsewhere never replaces
it), and re-running on unchanged data and code registers nothing new. Real SQLite MLflow store."""

from __future__ import annotations

import pytest

from karma_pipelines.tracking.forecaster import track_forecaster
from karma_pipelines.tracking.lineage import SOURCE_TAG, source_alias, source_key
from karma_pipelines.tracking.registry import CHAMPION, settle_champion, version_by_alias
from karma_pipelines.training.spec import load_spec
from tests.synthetic import feature_table
from tests.test_registry import evaluated, target  # noqa: F401 - the fixture

SPEC = load_spec("rollback_forecaster")
NAME = SPEC.registered_model_name


def track(target, frame_seed: int, source_dir, kind: str, spec=SPEC):  # noqa: F811
    evaluation = evaluated(feature_table(3000, seed=frame_seed), spec)
    tags = {"dagster.run_id": f"run-{frame_seed}", "source.kind": kind}
    tracked = track_forecaster(target, evaluation, tags, dataset_source=str(source_dir))
    settle_champion(target.client(), NAME, tracked.registered.version)
    return tracked


def versions(target) -> list[str]:  # noqa: F811
    return sorted(str(v.version) for v in target.client().search_model_versions(f"name = '{NAME}'"))


def test_a_version_trained_on_another_source_never_replaces_the_champion(target, tmp_path):  # noqa: F811
    world, repo = tmp_path / "world", tmp_path / "repo"
    world.mkdir(), repo.mkdir()
    client = target.client()
    first = track(target, 2, world, "simulator")
    assert str(version_by_alias(client, NAME, CHAMPION).version) == first.registered.version
    # A model of another source is compared with that source's champion (none yet), on its holdout.
    other = track(target, 5, repo, "git")
    assert other.decision.promote and other.decision.reason == "no champion yet"
    assert other.decision.champion is None
    champion = version_by_alias(client, NAME, CHAMPION)
    assert str(champion.version) == first.registered.version  # `champion` still serves the world
    assert champion.tags[SOURCE_TAG] == source_key({"source.kind": "simulator"}, str(world))
    git_alias = source_alias(source_key({"source.kind": "git"}, str(repo)))
    assert str(version_by_alias(client, NAME, git_alias).version) == other.registered.version
    # The repository's next challenger is judged against the repository's champion, not the world's.
    blind = SPEC.without_groups("change", "time", "graph")
    worse = track(target, 5, repo, "git", spec=blind)
    assert not worse.decision.promote and worse.decision.champion is not None
    assert str(version_by_alias(client, NAME, git_alias).version) == other.registered.version
    assert str(version_by_alias(client, NAME, CHAMPION).version) == first.registered.version


def test_unchanged_data_and_code_register_nothing_new(target, tmp_path):  # noqa: F811
    world = tmp_path / "world"
    world.mkdir()
    first = track(target, 2, world, "events")
    again = track(target, 2, world, "events")
    assert again.registered.unchanged and again.registered.version == first.registered.version
    assert again.decision.promote == first.decision.promote and again.decision.reason == first.decision.reason
    assert versions(target) == [first.registered.version]
    # Other data: a new version; then the first data again is a new challenge (only the latest counts).
    track(target, 3, world, "events")
    third = track(target, 2, world, "events")
    assert not third.registered.unchanged
    assert len(versions(target)) == 3


@pytest.mark.parametrize("kind", ["simulator", "git", "events"])
def test_source_aliases_are_valid_and_distinct(kind, tmp_path):
    a, b = (
        source_alias(source_key({"source.kind": kind}, str(tmp_path / "a"))),
        source_alias(source_key({"source.kind": kind}, str(tmp_path / "b"))),
    )
    assert a != b and a.startswith(f"champion-{kind}-")
    assert all(c.isalnum() or c in "-_" for c in a)
