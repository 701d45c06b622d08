"""Deploy tables from the event log: idempotent extraction, redaction, the data dictionary."""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from karma_pipelines.contracts.config_fields import config_hash
from karma_pipelines.contracts.redaction import REDACTED, redact
from karma_pipelines.contracts.schema import KARMA_EVENTS, data_dictionary_markdown
from karma_pipelines.pipeline.tables import load_tables
from karma_pipelines.records import DEFAULT_HORIZON, deploy_tables_from_events
from karma_pipelines.simulator import SimulationConfig, simulate_world
from karma_pipelines.sources.event_log import combine_event_days, event_days, read_event_files, read_event_log
from karma_pipelines.sources.event_world import EventLogSource
from karma_pipelines.validation import validate_table

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("w") / "world"
    simulate_world(root, SimulationConfig(seed=5, components=30, days=30))
    return root


def extract(root: Path):
    world = EventLogSource(root).describe()
    clean = validate_table(
        read_event_log(world.root / "events"), KARMA_EVENTS, world.suite_parameters()
    ).clean
    return deploy_tables_from_events(clean, as_of=world.end)


def test_re_running_and_re_delivery_add_nothing(world_dir, tmp_path):
    first_deploys, first_snaps = extract(world_dir)
    again_deploys, _ = extract(world_dir)
    pd.testing.assert_frame_equal(first_deploys, again_deploys)

    # Every event of the busiest day delivered a second time, in a later file.
    copy = tmp_path / "world"
    shutil.copytree(world_dir, copy)
    busiest = max((copy / "events").glob("*.jsonl"), key=lambda p: p.stat().st_size)
    (copy / "events" / "9999-redelivery.jsonl").write_text(busiest.read_text())
    deploys, snaps = extract(copy)
    pd.testing.assert_frame_equal(first_deploys, deploys)
    pd.testing.assert_frame_equal(first_snaps, snaps)


def test_rollback_deploys_restore_the_config_before_the_deploy_they_undo(world_dir):
    deploys, snaps = extract(world_dir)
    hashes = snaps.set_index("deploy_id")["config_hash"]
    ordered = deploys.sort_values("deployed_at", kind="stable")
    previous = ordered.groupby("component")["deploy_id"].shift(1)
    # A rollback of a component's first deploy restores the empty config (it removes the component).
    before = dict(zip(ordered["deploy_id"], previous.map(hashes).fillna(config_hash({})), strict=True))
    rollbacks = deploys[deploys["is_rollback"]]
    # Exactly the rollbacks the world planted (its ground truth), each once.
    truth = pd.read_csv(world_dir / "ground_truth" / "deploys.csv")
    planted = set(truth.loc[truth["rolled_back"], "deploy_id"])
    assert len(planted) >= 20 and len(rollbacks) == len(planted) and set(rollbacks["rolls_back"]) == planted
    for row in rollbacks.itertuples():
        assert hashes[row.deploy_id] == before[row.rolls_back], row.deploy_id


def test_snapshots_never_hold_secret_values(world_dir):
    _, snaps = extract(world_dir)
    for text in snaps["config_json"]:
        config = json.loads(text)
        assert redact(config) == config  # nothing left that redaction would hide
    assert redact({"db_password": "hunter2", "container": {"secrets": ["a", "b"]}}) == {
        "db_password": REDACTED,
        "container": {"secrets": REDACTED},
    }


def test_data_dictionary_is_generated_from_the_schema():
    assert (ROOT / "assets/schemas/data_dictionary.md").read_text() == data_dictionary_markdown()


def test_files_read_one_at_a_time_make_the_same_log(world_dir):
    """Each day file becomes its own table (re-deliveries not marked yet); combined, they are the log as
    read in one go, re-deliveries marked across files (the simulator plants some)."""
    events = world_dir / "events"
    files = read_event_files(events)
    assert list(files) == event_days(events)
    for day, frame in files.items():
        assert list(frame.columns) == KARMA_EVENTS.names
        assert set(frame["source_file"]) <= {f"{day}.jsonl"}
        assert frame["duplicate_of"].isna().all() and frame["conflicts_with"].isna().all()
    whole = read_event_log(events)
    assert whole["duplicate_of"].notna().any()
    pd.testing.assert_frame_equal(combine_event_days(list(files.values())), whole)
    some = event_days(events)[3:6]
    batches = EventLogSource(world_dir).read_batches(some)
    for day in some:
        pd.testing.assert_frame_equal(batches[day], files[day])


def test_tables_without_their_events_are_the_same_tables(world_dir):
    """`keep_events=False` (the backtest's): the events let go once used, the rest unchanged."""
    kept = load_tables(EventLogSource(world_dir), DEFAULT_HORIZON)
    lean = load_tables(EventLogSource(world_dir), DEFAULT_HORIZON, keep_events=False)
    assert len(kept.raw_events) > len(kept.clean_events) > 0
    assert len(lean.raw_events) == len(lean.clean_events) == 0
    assert list(lean.clean_events.columns) == KARMA_EVENTS.names
    for name in ("deploy_records", "config_snapshots", "quarantined", "event_results"):
        pd.testing.assert_frame_equal(getattr(lean, name), getattr(kept, name))
    assert lean.commits == kept.commits


def test_events_in_any_order_and_with_any_index_give_the_same_tables(world_dir):
    # The deploys are put in time order from the events' positions (never their index labels), ties of
    # `ts` broken by `record_id`.
    world = EventLogSource(world_dir).describe()
    clean = validate_table(
        read_event_log(world.root / "events"), KARMA_EVENTS, world.suite_parameters()
    ).clean
    tied = clean.copy()
    tied["ts"] = tied["ts"].dt.floor("D")  # many deploys at the same time: record_id decides
    expected = deploy_tables_from_events(tied, as_of=world.end, workers=1)
    shuffled = tied.sample(frac=1.0, random_state=4)
    shuffled.index = pd.Index([f"row-{i}" for i in range(len(shuffled))][::-1])
    for workers in (1, 2):
        got = deploy_tables_from_events(shuffled, as_of=world.end, workers=workers)
        for a, b in zip(got, expected, strict=True):
            pd.testing.assert_frame_equal(a, b)
    assert len(expected[0]) > 100 and expected[0]["deployed_at"].duplicated().any()
