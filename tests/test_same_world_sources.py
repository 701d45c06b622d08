"""One simulated world, two sources: its event log, and the same deploys written as a Git history
of configs (`simulator.git_writer`), must give the same deploy records wherever both can know them.

Compared: which deploys there are (component, environment, deploy time, author), the config after
each (hash and field paths, as the snapshots store them), the fields each deploy changed, which
deploys roll back which, and the rollback labels (same horizon, same as-of time).

Left out, because a Git history cannot know it: whether a deploy failed (`outcome`: a commit is a
commit), validation failures, invalidated dependents, drift, promotions and switchovers as such
(`action` is `update` in Git), where a deploy came from (`source`: CLI, API, CI), and the ids
(`dep-…` vs `<sha>:<component>`; the writer's map between them is checked instead). Line counts
differ by construction (canonical JSON vs the files' own lines). Git alone calls an update that
restores earlier content a rollback (`restore` evidence): those deploys are left out of the label
comparison. The malformed lines planted in the event log are quarantined there and never written
to Git: only clean deploys are compared.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from karma_pipelines.pipeline.tables import load_tables
from karma_pipelines.simulator import SimulationConfig, simulate_world
from karma_pipelines.simulator.git_writer import LAYOUT, author_email, write_git_history
from karma_pipelines.sources.event_world import EventLogSource
from karma_pipelines.sources.git import extract_git_history
from karma_pipelines.sources.git.source import GitSource

HORIZON = pd.Timedelta(days=7)
KEY = ["component", "environment", "deployed_at", "author"]


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("same-world")
    simulate_world(root / "world", SimulationConfig(seed=5, components=30, days=30))
    world = root / "world"
    end = pd.Timestamp(json.loads((world / "world.json").read_text())["end"])
    # Both sources down the one path (extraction, validation, labels at the same horizon and time).
    events = load_tables(EventLogSource(world), HORIZON)
    # The planted malformed lines are quarantined here; everything below is about clean deploys.
    assert (events.quarantined["table"] == "karma_events").sum() > 0
    records, snapshots = events.deploy_records, events.config_snapshots
    history = write_git_history(world, root / "repo")
    git = load_tables(GitSource(history.path, layout=LAYOUT, as_of=end), HORIZON)
    assert len(git.quarantined) == 0 and git.commits == history.commits
    event_side = records.assign(author=records["author"].map(author_email)).merge(
        snapshots[["deploy_id", "config_hash", "field_paths"]], on="deploy_id"
    )
    git_side = git.deploy_records.merge(
        git.config_snapshots[["deploy_id", "config_hash", "field_paths"]], on="deploy_id", how="left"
    )
    # Which kind of evidence made each Git rollback is the extractor's own detail, not a table column.
    evidence = extract_git_history(history.path, layout=LAYOUT, horizon=HORIZON, as_of=end).rollback_evidence
    return event_side, git_side, evidence, history


def test_both_sources_see_the_same_deploys(sources):
    event_side, git_side, _, history = sources
    # The same (component, environment, deploy time, author) for every deploy: Git's commit time is
    # the deploy time, its author e-mail the deployer's. Failed deploys are commits too: Git cannot
    # tell a failed apply from a good one, so `outcome` is not compared.
    assert len(event_side) > 100 and event_side[KEY].duplicated().sum() == 0
    assert set(map(tuple, event_side[KEY].values)) == set(map(tuple, git_side[KEY].values))
    assert len(history.commit_of) == len(event_side)
    # Each event-log deploy is the commit the writer made for it.
    ids = event_side["deploy_id"].map(history.commit_of) + ":" + event_side["component"]
    assert set(ids) == set(git_side["deploy_id"])


def test_config_after_each_deploy_is_the_same(sources):
    event_side, git_side, _, _ = sources
    both = event_side.merge(git_side, on=KEY, suffixes=("_events", "_git"))
    assert len(both) == len(event_side)
    # A rollback of a create removes the file in Git (no config to snapshot); the event log records
    # it with an empty config. Every other deploy leaves the same content: hash and field paths.
    gone = both["config_hash_git"].isna()
    assert (both.loc[gone, "field_paths_events"].map(len) == 0).all()
    same = both[~gone]
    assert (same["config_hash_events"] == same["config_hash_git"]).all()
    assert (same["field_paths_events"].map(list) == same["field_paths_git"].map(list)).all()
    # The changes diffed against the previous config agree too (Git counts lines of its own files).
    for column in ("fields_added", "fields_removed", "fields_changed"):
        assert (both[f"{column}_events"].map(sorted) == both[f"{column}_git"].map(sorted)).all(), column


def test_the_same_deploys_are_rolled_back(sources):
    event_side, git_side, evidence, history = sources
    git_id = dict(zip(event_side["deploy_id"], event_side["deploy_id"].map(history.commit_of) + ":"
                      + event_side["component"], strict=True))  # fmt: skip
    rollbacks = event_side[event_side["is_rollback"]]
    assert len(rollbacks) > 5
    expected = {
        (git_id[d], git_id[r]) for d, r in zip(rollbacks["deploy_id"], rollbacks["rolls_back"], strict=True)
    }
    reverts = evidence[evidence["evidence"] == "revert"]
    # Every rollback in the event log is a `This reverts commit <sha>` revert in Git, of the same deploy.
    assert set(zip(reverts["deploy_id"], reverts["rolls_back"], strict=True)) == expected
    # Git also calls an update that restores earlier content a rollback (`restore` evidence): the
    # event log knows it as an ordinary update, so those (and the deploys they "undo") are left out.
    restored = set(evidence.loc[evidence["evidence"] != "revert", "rolls_back"])
    restores = set(evidence.loc[evidence["evidence"] != "revert", "deploy_id"])
    labels = event_side.assign(deploy_id=event_side["deploy_id"].map(git_id)).set_index("deploy_id")
    git_labels = git_side.set_index("deploy_id")
    keep = [d for d in labels.index if d not in restored and d not in restores]
    assert len(keep) >= 0.7 * len(labels)
    for column in ("is_rollback", "labelled", "rolled_back", "rolled_back_at"):
        pd.testing.assert_series_equal(
            labels.loc[keep, column], git_labels.loc[keep, column], check_index_type=False
        )
