"""Appending a day file to validated tables: equal to validating everything again, or a reason to."""

import json

import pandas as pd

from karma_pipelines.contracts.schema import KARMA_EVENTS
from karma_pipelines.pipeline.appended_tables import PreviousTables, append_validated_tables
from karma_pipelines.pipeline.tables import validated_tables
from karma_pipelines.sources.event_append import append_event_batches
from karma_pipelines.sources.event_world import EventLogSource
from tests.test_bad_event_records import HORIZON, deploy, event, rollback, write_world

DAY1, DAY2 = "2026-05-01", "2026-05-02"


def tables_after(tmp_path, second_day: list[dict]):
    """(the tables appended to with DAY2, the tables validated from scratch, the appended raw table)."""
    first = [event("k-1"), deploy("k-2")]
    root = write_world(tmp_path / "world", [json.dumps(e) for e in first])
    source = EventLogSource(root)
    world = source.describe()
    raw1 = source.raw_tables(source.read_batches([DAY1]), HORIZON)
    before = validated_tables(world, raw1, HORIZON)
    (root / "events" / f"{DAY2}.jsonl").write_text("\n".join(json.dumps(e) for e in second_day) + "\n")
    raw2 = append_event_batches(raw1, source.read_batches([DAY2]))
    held = int((before.quarantined["table"] == KARMA_EVENTS.name).sum())
    previous = PreviousTables(
        len(before.clean_events) + held,
        len(before.clean_events),
        before.deploy_records,
        before.config_snapshots,
        before.quarantined,
    )
    full = validated_tables(world, source.raw_tables(source.read_batches([DAY1, DAY2]), HORIZON), HORIZON)
    return append_validated_tables(previous, world, raw2, HORIZON), full, raw2


def test_a_later_day_with_a_rollback_of_an_earlier_deploy_is_appended_exactly(tmp_path):
    later = [
        rollback("k-3", "dep-000001", ts="2026-05-02T08:00:00Z"),
        deploy("k-4", deploy_id="dep-000003", ts="2026-05-02T09:00:00Z", config={"cpu": 512}),
    ]
    appended, full, raw = tables_after(tmp_path, later)
    assert raw.appended_rows == 2 and not isinstance(appended, str), appended
    assert appended.new_events == 2 and appended.new_deploys == 2 and appended.relabelled == 1
    for name in ("clean_events", "deploy_records", "config_snapshots"):
        pd.testing.assert_frame_equal(getattr(appended.tables, name), getattr(full, name), check_exact=True)
    records = appended.tables.deploy_records.set_index("deploy_id")
    assert bool(records.loc["dep-000001", "rolled_back"]) is True  # known only with the new day
    # Diffed against the last earlier config of its component: the rollback's empty one.
    assert records.loc["dep-000003", "n_fields_added"] == 1


def test_a_conflicting_redelivery_or_an_older_deploy_rebuilds(tmp_path):
    conflict = [deploy("k-2", config={"cpu": 1024})]  # the same key as day 1's deploy, other content
    appended, _, raw = tables_after(tmp_path / "a", conflict)
    assert raw.appended_rows is None and "rebuilt" in appended

    older = [deploy("k-5", deploy_id="dep-000009", ts="2026-05-01T09:30:00Z")]  # before day 1's deploy
    appended, _, raw = tables_after(tmp_path / "b", older)
    assert raw.appended_rows == 2 and appended == "a new deploy event is not later than the last earlier one"
