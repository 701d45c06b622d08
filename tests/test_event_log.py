"""read_event_log / read_world_components on a hand-written world with every malformed kind."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from karma_pipelines.contracts.redaction import redact_json_line
from karma_pipelines.contracts.schema import KARMA_EVENTS
from karma_pipelines.sources import WorldNotFound, read_event_log, read_world_components

COMPONENTS = ("vpc/core-dev", "ecs-service/api-dev", "s3-bucket/assets-prod")
DAY1, DAY2 = "2026-05-01.jsonl", "2026-05-02.jsonl"


def event(key: str, ts="2026-05-01T09:00:00Z", event_type="change.requested", **over) -> dict:
    body = {
        "ts": ts,
        "event_type": event_type,
        "entity_id": "vpc/core-dev",
        "correlation_id": "chg-000001",
        "tags": {"Project": "karma", "Environment": "dev", "Owner": "ops"},
        "attrs": {"component": "vpc/core-dev", "environment": "dev"},
        "idempotency_key": key,
        "source": "cli",
    }
    body.update(over)
    return {k: v for k, v in body.items() if v is not DROP}


DROP = object()
GOOD_1 = json.dumps(event("k-1"))
GOOD_2 = json.dumps(
    event(
        "k-2",
        ts="2026-05-01T10:00:00Z",
        event_type="deploy.apply",
        entity_id="ecs-service/api-dev",
        attrs={"deploy_id": "dep-000001", "config": {"container": {"db_password": "hunter2"}}},
    )
)

# (file, line) -> (the line, the malformed kind of the contract or None for a good event)
LINES: dict[tuple[str, int], tuple[str, str | None]] = {
    (DAY1, 1): (GOOD_1, None),
    (DAY1, 2): (GOOD_2, None),
    (DAY1, 3): ('{"ts": "2026-05-01T11:00:00Z", "event_type": "promo', "not_json"),
    # line 4 is blank: skipped, but it still counts for the line numbers after it
    (DAY1, 5): (json.dumps(event("k-5", ts=DROP)), "missing_ts"),
    (DAY1, 6): (json.dumps(event("k-6", event_type=DROP)), "missing_event_type"),
    (DAY1, 7): (json.dumps(event(DROP)), "missing_idempotency_key"),
    (DAY1, 8): (json.dumps(event("k-8", ts=1777626000)), "bad_ts_type"),
    (DAY1, 9): (json.dumps(event("k-9", ts="2026-02-30T12:00:00Z")), "unparseable_ts"),
    (DAY1, 10): (json.dumps(event("k-10", ts="2031-01-01T00:00:00Z")), "future_ts"),
    (DAY1, 11): (json.dumps(event("k-11", entity_id="vpc/ghost-dev")), "unknown_entity"),
    (DAY1, 12): (json.dumps(event("k-12", event_type="heartbeat")), "unknown_event_type"),
    (DAY1, 13): (json.dumps(event("k-13", attrs=["a"])), "attrs_not_object"),
    (DAY1, 14): (GOOD_1, "duplicate"),
    (DAY2, 1): (json.dumps(event("k-21", ts="2026-05-02T11:30:00+02:00")), None),
    (DAY2, 2): (GOOD_2, "duplicate"),  # re-delivered a day later, in another file
    (DAY2, 3): ("[1, 2]", "not_json"),  # JSON, but not an object
    (DAY2, 4): (json.dumps(event("k-24", attrs="{}")), "attrs_not_object"),
    (DAY2, 5): (json.dumps(event("k-25", attrs=DROP)), "attrs_not_object"),
    (DAY2, 6): (json.dumps(event("k-26", ts="yesterday 10am")), "unparseable_ts"),
}


def write_world(root: Path) -> Path:
    """A small world: two event files (in reverse creation order), configs for COMPONENTS."""
    events = root / "events"
    events.mkdir(parents=True)
    for name in (DAY2, DAY1):
        n = max(line for f, line in LINES if f == name)
        text = [LINES.get((name, i), ("",))[0] for i in range(1, n + 1)]
        # CRLF on day 2: a Windows-written file reads the same.
        newline = "\r\n" if name == DAY2 else "\n"
        (events / name).write_text(newline.join(text) + newline + "\n", newline="")
    (events / "README.txt").write_text("not an event file")
    for comp in COMPONENTS:
        comp_type, nick = comp.split("/")
        env = nick.rsplit("-", 1)[1]
        folder = root / "configs" / "iac" / env / comp_type / nick
        folder.mkdir(parents=True)
        (folder / "config.json").write_text("{}")
    return root


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    return write_world(tmp_path_factory.mktemp("world"))


@pytest.fixture(scope="module")
def events(world: Path) -> pd.DataFrame:
    return read_event_log(world / "events")


def test_one_row_per_non_blank_line_in_file_order(events):
    expected = [f"{f}:{n}" for f, n in sorted(LINES)]
    assert events["record_id"].tolist() == expected
    # As written (no trailing "\r"), but redacted where the source reads it: no secret is ever stored.
    assert events["raw"].tolist() == [redact_json_line(LINES[k][0]) for k in sorted(LINES)]
    assert any(redact_json_line(LINES[k][0]) != LINES[k][0] for k in LINES)  # one line holds a secret
    assert not events["raw"].str.contains("hunter2|s3cr3t", regex=True).any()
    assert events["line_no"].tolist() == [n for _, n in sorted(LINES)]
    assert (events["source_file"] + ":" + events["line_no"].astype(str)).tolist() == expected


def test_conforms_to_karma_events(events):
    pd.testing.assert_frame_equal(events, KARMA_EVENTS.conform(events))
    assert list(events.columns) == KARMA_EVENTS.names


def row(events: pd.DataFrame, record_id: str) -> dict:
    """One row as a dict, nulls as None."""
    cells = events.set_index("record_id").loc[record_id].to_dict()
    return {k: None if not isinstance(v, dict) and pd.isna(v) else v for k, v in cells.items()}


def test_good_events_parse_completely(events):
    r = row(events, f"{DAY1}:1")
    assert r["parse_error"] is None
    assert r["ts"] == pd.Timestamp("2026-05-01T09:00:00Z")
    assert r["ts_raw"] == "2026-05-01T09:00:00Z"
    assert (r["event_type"], r["entity_id"], r["correlation_id"], r["idempotency_key"], r["source"]) == (
        "change.requested",
        "vpc/core-dev",
        "chg-000001",
        "k-1",
        "cli",
    )
    assert r["attrs_kind"] == "object"
    assert r["attrs"] == {"component": "vpc/core-dev", "environment": "dev"}
    assert r["tags"] == {"Project": "karma", "Environment": "dev", "Owner": "ops"}
    assert r["duplicate_of"] is None
    # An offset is converted to UTC.
    assert row(events, f"{DAY2}:1")["ts"] == pd.Timestamp("2026-05-02T09:30:00Z")


T, CR = "2026-05-01T09:00:00Z", "change.requested"


# record id, parse_error (prefix), ts parsed?, ts_raw, event_type, idempotency_key, attrs_kind
@pytest.mark.parametrize(
    ("record_id", "parse_error", "parsed", "ts_raw", "event_type", "key", "attrs_kind"),
    [
        (f"{DAY1}:3", "not JSON: Unterminated string", False, None, None, None, "missing"),
        (f"{DAY1}:5", None, False, None, CR, "k-5", "object"),
        (f"{DAY1}:6", None, True, T, None, "k-6", "object"),
        (f"{DAY1}:7", None, True, T, CR, None, "object"),
        (f"{DAY1}:8", None, False, "1777626000", CR, "k-8", "object"),
        (f"{DAY1}:9", None, False, "2026-02-30T12:00:00Z", CR, "k-9", "object"),
        (f"{DAY1}:10", None, True, "2031-01-01T00:00:00Z", CR, "k-10", "object"),
        (f"{DAY1}:12", None, True, T, "heartbeat", "k-12", "object"),
        (f"{DAY1}:13", None, True, T, CR, "k-13", "array"),
        (f"{DAY2}:3", "not a JSON object: array", False, None, None, None, "missing"),
        (f"{DAY2}:4", None, True, T, CR, "k-24", "string"),
        (f"{DAY2}:5", None, True, T, CR, "k-25", "missing"),
        (f"{DAY2}:6", None, False, "yesterday 10am", CR, "k-26", "object"),
    ],
)
def test_malformed_lines_parse_as_far_as_they_go(
    events, record_id, parse_error, parsed, ts_raw, event_type, key, attrs_kind
):
    r = row(events, record_id)
    if parse_error is None:
        assert r["parse_error"] is None
    else:
        assert r["parse_error"].startswith(parse_error)
    assert r["ts"] == (pd.Timestamp(ts_raw) if parsed else None)
    assert (r["ts_raw"], r["event_type"], r["idempotency_key"]) == (ts_raw, event_type, key)
    assert r["attrs_kind"] == attrs_kind
    expected_attrs = {"component": "vpc/core-dev", "environment": "dev"} if attrs_kind == "object" else {}
    assert r["attrs"] == expected_attrs
    assert r["duplicate_of"] is None


TS_CASES = {
    "2026-05-01T09:14:03Z": "2026-05-01T09:14:03Z",
    "2026-05-01T11:14:03+02:00": "2026-05-01T09:14:03Z",
    "2026-05-01T09:14:03.5Z": "2026-05-01T09:14:03.5Z",
    "2026-05-01 09:14:03": "2026-05-01T09:14:03Z",  # no offset: UTC, as the contract says
    "20260501T091403Z": "2026-05-01T09:14:03Z",  # ISO 8601 basic format
    "2026": None,  # ISO 8601 allows a bare year; an event time needs a date
    "now": None,
    "1777626000": None,  # epoch seconds, as text
    "": None,
    "2026-05-01T25:00:00Z": None,
}


def test_ts_must_be_an_iso_8601_string_with_a_full_date(tmp_path):
    lines = [json.dumps(event(f"k-{i}", ts=ts)) for i, ts in enumerate(TS_CASES)]
    (tmp_path / "ts.jsonl").write_text("\n".join(lines))
    out = read_event_log(tmp_path)
    assert out["ts_raw"].tolist() == list(TS_CASES)
    expected = [pd.Timestamp(v) if v else None for v in TS_CASES.values()]
    assert [None if pd.isna(t) else t for t in out["ts"]] == expected


def test_unknown_entity_is_read_as_written(events):
    assert row(events, f"{DAY1}:11")["entity_id"] == "vpc/ghost-dev"


def test_duplicate_points_at_the_first_delivery_across_files(events):
    dups = events.dropna(subset=["duplicate_of"]).set_index("record_id")["duplicate_of"].to_dict()
    assert dups == {f"{DAY1}:14": f"{DAY1}:1", f"{DAY2}:2": f"{DAY1}:2"}


def test_events_stay_in_file_order_even_when_late(tmp_path):
    (tmp_path / "b.jsonl").write_text(json.dumps(event("k", ts="2026-01-01T00:00:00Z")) + "\n")
    (tmp_path / "a.jsonl").write_text(json.dumps(event("k", ts="2026-06-01T00:00:00Z")) + "\n")
    out = read_event_log(tmp_path)
    assert out["record_id"].tolist() == ["a.jsonl:1", "b.jsonl:1"]
    # Same key, different content: a conflict (both kept, each naming the other), not a duplicate.
    assert out["conflicts_with"].tolist() == ["b.jsonl:1", "a.jsonl:1"]
    assert out["duplicate_of"].isna().all()


def test_invalid_utf8_line_is_kept_with_a_parse_error(tmp_path):
    good = json.dumps(event("k-1")).encode()
    (tmp_path / "x.jsonl").write_bytes(good + b"\n" + b'{"ts": "\xff"}' + b"\n")
    out = read_event_log(tmp_path)
    assert out["parse_error"].isna().tolist()[0]
    assert out["parse_error"].tolist()[1].startswith("not UTF-8")
    assert out["record_id"].tolist() == ["x.jsonl:1", "x.jsonl:2"]


def test_world_components(world):
    assert read_world_components(world) == set(COMPONENTS)


def test_missing_world_parts_are_named(tmp_path):
    with pytest.raises(WorldNotFound, match=str(tmp_path / "nowhere")):
        read_event_log(tmp_path / "nowhere")
    (tmp_path / "events").mkdir()
    (tmp_path / "events" / "notes.txt").write_text("x")
    with pytest.raises(FileNotFoundError, match=r"no event files \(\*\.jsonl\) in .*events"):
        read_event_log(tmp_path / "events")
    with pytest.raises(WorldNotFound, match=str(tmp_path / "configs" / "iac")):
        read_world_components(tmp_path)
