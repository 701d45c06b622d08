"""Bad event lines and files: every physical line ends in exactly one of clean or quarantined, with a
reason naming the field; nothing is coerced, nothing vanishes, nothing outside the world is read."""

from __future__ import annotations

import json
import os

import pytest

from karma_pipelines.pipeline.tables import load_tables
from karma_pipelines.sources.event_world import EventLogSource
from tests.test_bad_event_records import DAY, GOOD, HORIZON, deploy, event, run, write_world

# The cases, as module constants: tests/test_bad_input_summary.py runs them all together too.
ENVELOPE_VALUES = [12345, {"k": 1}, True, ["a"]]
NOT_OBJECT_CONFIGS = ["cpu=256", [{"cpu": 256}], 256]
OTHER_SPACES = ["\x0c", "\x1c", "\x1d", "\x1e", "\x1f", "\xa0", "\u3000", "\u2028", "\x0b"]


def conflicting_copies(key: str = "k", n: int = 2) -> list[str]:
    """An event, an identical re-delivery (keys reordered, other spacing), and two conflicting copies."""
    first = deploy(f"{key}-3", f"dep-{n:06d}", ts="2026-05-01T12:00:00Z")
    same = json.dumps(dict(reversed(list(first.items()))), indent=None, separators=(", ", " : "))
    other = deploy(f"{key}-4", f"dep-{n + 1:06d}", ts="2026-05-01T13:00:00Z")
    changed = {**other, "attrs": {**other["attrs"], "status": "failed"}}
    return [json.dumps(first), same, json.dumps(other), json.dumps(changed)]


@pytest.mark.parametrize("value", ENVELOPE_VALUES)
def test_a_wrong_typed_envelope_field_is_quarantined_not_coerced(tmp_path, value):
    _, reasons = run(tmp_path, [json.dumps(event("k-3", source="cli") | {"idempotency_key": value})])
    kind = {int: "a number", dict: "an object", bool: "a boolean", list: "an array"}[type(value)]
    assert reasons[f"{DAY}:3"].startswith(
        f"expect_column_values_to_be_null(envelope_error): idempotency_key is {kind}, not a string"
    )


def test_a_number_key_is_no_copy_of_the_same_string_key(tmp_path):
    lines = [json.dumps(event("777") | {"idempotency_key": 777}), json.dumps(event("777"))]
    tables, reasons = run(tmp_path, lines)
    assert set(reasons) == {f"{DAY}:3"}  # the string-keyed line is clean: no duplicate, no conflict
    assert "duplicate_of" not in reasons[f"{DAY}:3"] and "conflicts_with" not in reasons[f"{DAY}:3"]


@pytest.mark.parametrize("config", NOT_OBJECT_CONFIGS)
def test_a_config_that_is_not_an_object_is_quarantined(tmp_path, config):
    tables, reasons = run(tmp_path, [json.dumps(deploy("k-3", "dep-000002", config=config))])
    kind = {str: "a string", list: "an array", int: "a number"}[type(config)]
    assert f"(attrs_kind): attrs.config is {kind}, not an object" in reasons[f"{DAY}:3"]
    assert "dep-000002" not in set(tables.deploy_records["deploy_id"])


def test_conflicting_copies_are_all_quarantined_identical_ones_deduplicated(tmp_path):
    tables, reasons = run(tmp_path, conflicting_copies())
    assert reasons[f"{DAY}:4"] == "expect_column_values_to_be_null(duplicate_of)"
    assert reasons[f"{DAY}:5"] == f"expect_column_values_to_be_null(conflicts_with): {DAY}:6"
    assert reasons[f"{DAY}:6"] == f"expect_column_values_to_be_null(conflicts_with): {DAY}:5"
    assert f"{DAY}:3" not in reasons  # the first identical copy is the kept one
    assert set(tables.deploy_records["deploy_id"]) == {"dep-000001", "dep-000002"}  # not file order


@pytest.mark.parametrize("space", OTHER_SPACES)
def test_a_line_of_other_white_space_is_a_quarantined_row(tmp_path, space):
    _, reasons = run(tmp_path, [space, f" {space}\t"])
    assert set(reasons) == {f"{DAY}:3", f"{DAY}:4"}
    assert all(
        r.startswith("expect_column_values_to_be_null(parse_error): not JSON") for r in reasons.values()
    )


def test_a_byte_order_mark_does_not_quarantine_the_first_event(tmp_path):
    world = write_world(tmp_path / "world", GOOD)
    path = world / "events" / DAY
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    tables = load_tables(EventLogSource(world), HORIZON)
    assert sorted(tables.clean_events["record_id"]) == [f"{DAY}:1", f"{DAY}:2"]
    assert tables.quarantined.empty


def test_a_folder_named_like_a_day_and_a_link_out_of_the_world_are_quarantined_not_read(tmp_path):
    secret = tmp_path / "outside.jsonl"
    secret.write_text(json.dumps(event("k-9", attrs={"note": "s3cr3t-outside-the-world"})) + "\n")
    world = write_world(tmp_path / "world", GOOD)
    (world / "events" / "2026-05-02.jsonl").mkdir()
    os.symlink(secret, world / "events" / "2026-05-03.jsonl")
    tables = load_tables(EventLogSource(world), HORIZON)
    quarantined = tables.quarantined.set_index("record_id")["reasons"].to_dict()
    assert "2026-05-02.jsonl is a folder, not an event file" in quarantined["2026-05-02.jsonl:0"]
    assert "a symbolic link out of the world folder" in quarantined["2026-05-03.jsonl:0"]
    for frame in (tables.raw_events, tables.clean_events, tables.quarantined):
        assert "s3cr3t-outside-the-world" not in frame.to_json()
    assert sorted(tables.clean_events["record_id"]) == [f"{DAY}:1", f"{DAY}:2"]


def test_a_link_inside_the_world_is_read(tmp_path):
    world = write_world(tmp_path / "world", GOOD)
    (world / "archive").mkdir()
    (world / "events" / DAY).rename(world / "archive" / DAY)
    os.symlink(world / "archive" / DAY, world / "events" / DAY)
    tables = load_tables(EventLogSource(world), HORIZON)
    assert sorted(tables.clean_events["record_id"]) == [f"{DAY}:1", f"{DAY}:2"]
