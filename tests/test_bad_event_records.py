"""One bad event record is quarantined with a reason naming the field: no failed run, no lost row."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from karma_pipelines.pipeline.tables import load_tables
from karma_pipelines.sources.event_world import EventLogSource
from tests.test_event_log import event as event_line

COMPONENTS = ("vpc/core-dev", "ecs-service/api-dev")
DAY = "2026-05-01.jsonl"
HORIZON = pd.Timedelta(days=7)


def event(key: str, **over) -> dict:
    """test_event_log's event, with a message in its attrs (the surrogate cases replace it)."""
    over.setdefault("attrs", {"component": "vpc/core-dev", "environment": "dev", "message": "hello"})
    return event_line(key, **over)


def deploy(key: str, deploy_id="dep-000001", ts="2026-05-01T10:00:00Z", **attrs) -> dict:
    body = {"deploy_id": deploy_id, "component": "ecs-service/api-dev", "environment": "dev"}
    body.update({"user": "ana", "action": "update", "status": "succeeded", "config": {"cpu": 256}})
    body.update(attrs)
    return event(key, ts=ts, event_type="deploy.apply", entity_id="ecs-service/api-dev", attrs=body)


def rollback(key: str, rolls_back, deploy_id="dep-000002", ts="2026-05-01T11:00:00Z") -> dict:
    return event(
        key,
        ts=ts,
        event_type="deploy.rollback",
        entity_id="ecs-service/api-dev",
        attrs={
            "deploy_id": deploy_id,
            "rolls_back": rolls_back,
            "component": "ecs-service/api-dev",
            "environment": "dev",
            "user": "ana",
            "status": "succeeded",
            "config": {},
            "reason": "x",
        },
    )


def write_world(root: Path, lines: list[str]) -> Path:
    events = root / "events"
    events.mkdir(parents=True)
    (events / DAY).write_text("\n".join(lines) + "\n")
    (root / "world.json").write_text(
        json.dumps({"start": "2026-04-01T00:00:00Z", "end": "2026-06-01T00:00:00Z"})
    )
    for comp in COMPONENTS:
        comp_type, nick = comp.split("/")
        folder = root / "configs" / "iac" / "dev" / comp_type / nick
        folder.mkdir(parents=True)
        (folder / "config.json").write_text("{}")
    return root


GOOD = [json.dumps(event("k-1")), json.dumps(deploy("k-2"))]


def run(tmp_path: Path, bad: list[str]):
    """The whole path on GOOD + bad lines: every line clean or quarantined once; the bad ones'
    quarantine reasons by record id."""
    tables = load_tables(EventLogSource(write_world(tmp_path / "world", GOOD + bad)), HORIZON)
    ids = [f"{DAY}:{n}" for n in range(1, len(GOOD) + len(bad) + 1)]
    assert sorted(tables.raw_events["record_id"]) == sorted(ids)
    events_q = tables.quarantined[tables.quarantined["table"] == "karma_events"]
    clean = list(tables.clean_events["record_id"])
    quarantined = list(events_q["record_id"])
    assert sorted(clean + quarantined) == sorted(ids)  # exactly one of the two, nothing lost
    assert {f"{DAY}:1", f"{DAY}:2"} <= set(clean)
    return tables, dict(zip(events_q["record_id"], events_q["reasons"], strict=True))


# The cases below, as module constants: tests/test_bad_input_summary.py runs them all together too.
OUT_OF_RANGE_TS = [
    "9999-12-31T23:59:59Z",
    "3000-01-01T00:00:00Z",
    "0001-01-01T00:00:00Z",
    "1677-09-21T00:00:00Z",
]
ID_FIELDS = ["deploy_id", "rolls_back"]
ID_VALUES = [["dep-000001"], {"id": "dep-000001"}]
# 65 to 800 levels. Near 950 the outcome depends on the interpreter's stack: under pytest-xdist's worker
# the JSON encoder can still exceed the recursion limit (open, #15), so that depth is not asserted here.
DEPTHS = [65, 600, 800]


@pytest.mark.parametrize("ts", OUT_OF_RANGE_TS)
def test_ts_outside_the_nanosecond_range_is_a_null_ts_quarantined(tmp_path, ts):
    tables, reasons = run(tmp_path, [json.dumps(event("k-3", ts=ts))])
    assert "expect_column_values_to_not_be_null(ts)" in reasons[f"{DAY}:3"]
    assert pd.isna(tables.raw_events.set_index("record_id").loc[f"{DAY}:3", "ts"])


def bad_id(key: str, field: str, value) -> dict:
    if field == "deploy_id":
        return deploy(key, deploy_id=value, ts="2026-05-01T12:00:00Z")
    return rollback(key, rolls_back=value)


@pytest.mark.parametrize("field", ID_FIELDS)
@pytest.mark.parametrize("value", ID_VALUES)
def test_a_list_or_object_deploy_id_or_rolls_back_is_quarantined(tmp_path, field, value):
    tables, reasons = run(tmp_path, [json.dumps(bad_id("k-3", field, value))])
    assert f"attrs.{field}" in reasons[f"{DAY}:3"]
    assert list(tables.deploy_records["deploy_id"]) == ["dep-000001"]


def surrogate_lines(where: str, key: str = "k", n: int = 2) -> list[str]:
    """A lone surrogate in a change request's message (and the deploy it describes), or in a user."""
    if where == "message":
        body = event(f"{key}-3", correlation_id=f"chg-{key}", attrs={"message": "bad \ud800 text"})
        apply = {**deploy(f"{key}-4", f"dep-{n:06d}"), "correlation_id": f"chg-{key}"}
        return [json.dumps(body), json.dumps(apply)]
    return [json.dumps(deploy(f"{key}-3", f"dep-{n:06d}", user="ana\udc00"))]


@pytest.mark.parametrize("where", ["message", "user"])
def test_a_lone_surrogate_survives(tmp_path, where):
    lines = surrogate_lines(where)
    assert "\\ud" in lines[0]  # written as a JSON escape, the line itself is ASCII
    tables, _ = run(tmp_path, lines)
    for frame in (tables.clean_events, tables.deploy_records, tables.config_snapshots, tables.quarantined):
        frame.to_json(orient="records", lines=True).encode("utf-8")  # nothing unencodable left
    record = tables.deploy_records.set_index("deploy_id").loc["dep-000002"]
    assert record["message" if where == "message" else "author"] in ("bad \ufffd text", "ana\ufffd")


def nested_config(depth: int) -> dict:
    config: dict = {"leaf": 1}
    for i in range(depth):
        config = {"db_password" if i == 3 else "n": config}
    return config


@pytest.mark.parametrize("depth", DEPTHS)
def test_a_config_nested_too_deeply_is_quarantined(tmp_path, depth):
    config = nested_config(depth)
    lines = [json.dumps(deploy("k-3", "dep-000002", ts="2026-05-01T12:00:00Z", config=config))]
    tables, reasons = run(tmp_path, lines)
    reason = reasons[f"{DAY}:3"]
    # As deep as the JSON decoder takes: the config is too deep; deeper, the line is not JSON.
    too_deep = "attrs.config nested deeper than 64 levels" in reason
    assert too_deep or reason.startswith("expect_column_values_to_be_null(parse_error)")
    assert "attrs.config" in reason if depth <= 800 else True
    assert "hunter" not in tables.quarantined.to_json()
    assert "dep-000002" not in set(tables.deploy_records["deploy_id"])
