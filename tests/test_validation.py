"""validate_table with the real GX suites: quarantine accounting, reasons, keys, redaction, parameters."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from karma_pipelines.contracts.redaction import REDACTED
from karma_pipelines.contracts.schema import (
    CONFIG_SNAPSHOTS,
    DEPLOY_ACTIONS,
    DEPLOY_OUTCOMES,
    DEPLOY_RECORDS,
    KARMA_EVENTS,
    QUARANTINED_RECORDS,
    TABLES,
)
from karma_pipelines.sources import read_event_log
from karma_pipelines.validation import (
    MissingSuiteParameter,
    ValidationOutcome,
    load_suite,
    standard_parameters,
    validate_table,
)
from tests.test_event_log import COMPONENTS, DAY1, DAY2, LINES, event, write_world

PARAMS = standard_parameters(COMPONENTS, "2026-05-01T00:00:00Z", "2026-05-31T00:00:00Z")


def reason(expectation: str, column: str) -> str:
    return f"expect_column_values_to_{expectation}({column})"


# What each malformed kind of the contract must be quarantined for.
KIND_REASONS = {
    "missing_ts": [reason("not_be_null", "ts")],
    "missing_event_type": [reason("not_be_null", "event_type")],
    "missing_idempotency_key": [reason("not_be_null", "idempotency_key")],
    "bad_ts_type": [reason("not_be_null", "ts")],
    "unparseable_ts": [reason("not_be_null", "ts")],
    "future_ts": [reason("be_between", "ts")],
    "unknown_entity": [reason("be_in_set", "entity_id")],
    "unknown_event_type": [reason("be_in_set", "event_type")],
    "attrs_not_object": [reason("be_in_set", "attrs_kind")],
    "duplicate": [reason("be_null", "duplicate_of")],
    # Nothing of the envelope is known for a line that is not a JSON object.
    "not_json": [
        reason("be_null", "parse_error"),
        reason("not_be_null", "ts"),
        reason("not_be_null", "event_type"),
        reason("not_be_null", "idempotency_key"),
        reason("not_be_null", "entity_id"),
        reason("be_in_set", "attrs_kind"),
    ],
}


def check_accounting(frame: pd.DataFrame, outcome: ValidationOutcome, table_name: str) -> None:
    """Every input row is in exactly one of clean / quarantined, and both keep their shapes."""
    assert len(outcome.clean) + len(outcome.quarantined) == len(frame)
    assert list(outcome.clean.columns) == list(frame.columns)
    assert outcome.clean.dtypes.equals(frame.dtypes)
    pd.testing.assert_frame_equal(outcome.quarantined, QUARANTINED_RECORDS.conform(outcome.quarantined))
    assert outcome.quarantined["quarantine_id"].is_unique
    assert (outcome.quarantined["table"] == table_name).all()
    assert (outcome.quarantined["n_reasons"] == outcome.quarantined["reasons"].str.count("; ") + 1).all()


@pytest.fixture(scope="module")
def events(tmp_path_factory) -> pd.DataFrame:
    return read_event_log(write_world(tmp_path_factory.mktemp("world")) / "events")


@pytest.fixture(scope="module")
def events_outcome(events) -> ValidationOutcome:
    return validate_table(events, KARMA_EVENTS, PARAMS)


def test_events_every_row_clean_or_quarantined_once(events, events_outcome):
    check_accounting(events, events_outcome, "karma_events")
    clean, quarantined = set(events_outcome.clean["record_id"]), set(events_outcome.quarantined["record_id"])
    assert not clean & quarantined
    assert clean | quarantined == set(events["record_id"])
    pd.testing.assert_frame_equal(
        events_outcome.clean, events[events["record_id"].isin(clean)].reset_index(drop=True)
    )
    assert not events_outcome.success


def test_events_good_lines_clean_and_malformed_quarantined_for_their_reason(events_outcome):
    expected_clean = {f"{f}:{n}" for (f, n), (_, kind) in LINES.items() if kind is None}
    assert set(events_outcome.clean["record_id"]) == expected_clean
    got = events_outcome.quarantined.set_index("record_id")["reasons"].to_dict()
    # A line that is no JSON object says why after its reason (`…(parse_error): not JSON: …`).
    details = {k: re.search(r"\(parse_error\): ([^;]+)", v) for k, v in got.items()}
    assert all(m is not None for k, m in details.items() if "(parse_error)" in got[k])
    got = {k: re.sub(r"\(parse_error\): [^;]+", "(parse_error)", v) for k, v in got.items()}
    expected = {f"{f}:{n}": "; ".join(KIND_REASONS[kind]) for (f, n), (_, kind) in LINES.items() if kind}
    assert got == expected


def test_events_results_count_failures_per_expectation(events_outcome):
    results = events_outcome.results
    assert list(results.columns) == ["expectation", "column", "success", "unexpected_count"]
    assert len(results) == len(load_suite("karma_events").expectations)
    counts = {f"{e}({c})": n for e, c, n in results[["expectation", "column", "unexpected_count"]].values}
    # not JSON x2, unparseable x2, missing x1, a number x1
    assert counts[reason("not_be_null", "ts")] == 2 + 2 + 1 + 1
    assert counts[reason("be_null", "duplicate_of")] == 2
    assert counts[reason("match_regex", "entity_id")] == 0
    assert (results["success"] == (results["unexpected_count"] == 0)).all()


def test_events_quarantine_keeps_the_raw_line_but_redacts_secrets(events_outcome):
    records = events_outcome.quarantined.set_index("record_id")["record"]
    assert records[f"{DAY1}:3"] == LINES[(DAY1, 3)][0]  # nothing secret: verbatim
    redelivered = records[f"{DAY2}:2"]  # GOOD_2 again, with a db_password in its config
    assert "hunter2" not in redelivered
    assert json.loads(redelivered)["attrs"]["config"]["container"]["db_password"] == REDACTED


def test_events_one_row_failing_several_expectations_is_quarantined_once(tmp_path):
    bad = event("k-1", ts="2031-01-01T00:00:00Z", event_type="heartbeat", entity_id="vpc/ghost-dev")
    secret = '{"ts": "2026-05-01T09:00:00Z", "attrs": {"config": {"api_key": "sk-live-123", "x": 1'
    (tmp_path / "a.jsonl").write_text("\n".join([json.dumps(event("k-0")), json.dumps(bad), secret]))
    frame = read_event_log(tmp_path)
    outcome = validate_table(frame, KARMA_EVENTS, PARAMS)
    check_accounting(frame, outcome, "karma_events")
    q = outcome.quarantined.set_index("record_id")
    assert q.loc["a.jsonl:2", "reasons"] == "; ".join(
        [reason("be_between", "ts"), reason("be_in_set", "event_type"), reason("be_in_set", "entity_id")]
    )
    assert q.loc["a.jsonl:2", "n_reasons"] == 3
    assert q.loc["a.jsonl:2", "quarantine_id"] == "karma_events:a.jsonl:2"
    # A broken line still has its secret-named values blanked.
    assert "sk-live-123" not in q.loc["a.jsonl:3", "record"]
    assert f'"api_key": "{REDACTED}"' in q.loc["a.jsonl:3", "record"]
    assert outcome.clean["record_id"].tolist() == ["a.jsonl:1"]


def test_events_all_clean_is_a_success(events_outcome):
    outcome = validate_table(events_outcome.clean, KARMA_EVENTS, PARAMS)
    assert outcome.success
    assert outcome.quarantined.empty
    assert list(outcome.quarantined.columns) == QUARANTINED_RECORDS.names
    pd.testing.assert_frame_equal(outcome.clean, events_outcome.clean)


T0 = pd.Timestamp("2026-05-10T12:00:00Z")


def deploys(*changes: dict) -> pd.DataFrame:
    """Deploy records: one valid row per dict, with the dict's fields changed."""
    rows = []
    for i, change in enumerate(changes):
        rows.append(
            {
                "deploy_id": f"dep-{i:06d}",
                "deployed_at": T0 + pd.Timedelta(hours=i),
                "component": "vpc/core-dev",
                "component_type": "vpc",
                "nickname": "core-dev",
                "environment": "dev",
                "author": "alice",
                "action": "update",
                "source": "cli",
                "change_id": f"chg-{i:06d}",
                "message": "widen the CIDR",
                "fields_added": ["cidr"],
                "fields_removed": [],
                "fields_changed": [],
                "n_fields_added": 1,
                "n_fields_removed": 0,
                "n_fields_changed": 0,
                "lines_added": 1,
                "lines_removed": 0,
                "outcome": "succeeded",
                "is_rollback": False,
                "rolls_back": None,
                "labelled": True,
                "rolled_back": False,
                "rolled_back_at": pd.NaT,
                "rollback_delay_hours": None,
                **change,
            }
        )
    frame = pd.DataFrame(rows)
    frame["rolled_back_at"] = pd.to_datetime(frame["rolled_back_at"], utc=True)
    return DEPLOY_RECORDS.conform(frame)


def test_deploy_records_suite_catches_each_problem():
    frame = deploys(
        {},  # 0: fine
        {"deploy_id": "dep-000003"},  # 1: same id as row 3
        {"n_fields_added": -1, "lines_removed": -2},  # 2: negative counts
        {},  # 3: fine on its own, but its id is repeated
        {"environment": "qa"},  # 4
        {"component": "vpc/ghost-dev", "message": "postgres://admin:hunter2@db:5432/app"},  # 5
        {"deploy_id": None},  # 6
        {"rollback_delay_hours": -3.0, "rolled_back": True},  # 7
        {"deployed_at": pd.Timestamp("2026-07-01T00:00:00Z")},  # 8: after the extraction's end
        {"action": "explode", "outcome": "maybe"},  # 9
        {"rollback_delay_hours": 5.0, "rolled_back": True},  # 10: fine
    )
    # Timestamps work as well as ISO strings for the time range.
    params = PARAMS | {"min_ts": pd.Timestamp("2026-05-01", tz="UTC"), "max_ts": pd.Timestamp("2026-05-31")}
    outcome = validate_table(frame, DEPLOY_RECORDS, params)
    check_accounting(frame, outcome, "deploy_records")
    assert outcome.clean["deploy_id"].tolist() == ["dep-000000", "dep-000010"]
    q = outcome.quarantined
    assert q["quarantine_id"].tolist() == [
        "deploy_records:dep-000003#row1",  # a duplicated key gets the row position
        "deploy_records:dep-000002",
        "deploy_records:dep-000003#row3",
        "deploy_records:dep-000004",
        "deploy_records:dep-000005",
        "deploy_records:#row6",  # no key at all: the row position stands in
        "deploy_records:dep-000007",
        "deploy_records:dep-000008",
        "deploy_records:dep-000009",
    ]
    assert q["record_id"].tolist()[:3] == ["dep-000003", "dep-000002", "dep-000003"]
    assert q["record_id"].tolist()[5] == "#row6"
    assert q["reasons"].tolist() == [
        reason("be_unique", "deploy_id"),
        f"{reason('be_between', 'n_fields_added')}; {reason('be_between', 'lines_removed')}",
        reason("be_unique", "deploy_id"),
        reason("be_in_set", "environment"),
        reason("be_in_set", "component"),
        reason("not_be_null", "deploy_id"),
        reason("be_between", "rollback_delay_hours"),
        reason("be_between", "deployed_at"),
        f"{reason('be_in_set', 'action')}; {reason('be_in_set', 'outcome')}",
    ]
    record = json.loads(q.set_index("quarantine_id").loc["deploy_records:dep-000005", "record"])
    assert record["message"] == f"postgres://admin:{REDACTED}@db:5432/app"  # the password only
    assert record["author"] == "alice"  # column names are not secret names ("author" ~ "auth")
    assert record["deployed_at"] == "2026-05-10T17:00:00+00:00"
    assert record["fields_added"] == ["cidr"]
    assert record["rolled_back_at"] is None


def snapshots(*changes: dict) -> pd.DataFrame:
    rows = [
        {
            "deploy_id": f"dep-{i:06d}",
            "captured_at": T0 + pd.Timedelta(hours=i),
            "component": "ecs-service/api-dev",
            "component_type": "ecs-service",
            "environment": "dev",
            "config_hash": f"{i:016x}",
            "config_json": '{"desired_count": 2}',
            "field_paths": ["desired_count"],
            "n_fields": 1,
            "references": [],
            **change,
        }
        for i, change in enumerate(changes)
    ]
    return CONFIG_SNAPSHOTS.conform(pd.DataFrame(rows))


def test_config_snapshots_suite_catches_each_problem():
    frame = snapshots(
        {},
        {"deploy_id": "dep-000000"},  # duplicate of row 0
        {"n_fields": -1},
        {"component": "ecs-service/ghost-dev"},
        {"config_hash": None},
        {},
    )
    outcome = validate_table(frame, CONFIG_SNAPSHOTS, PARAMS)
    check_accounting(frame, outcome, "config_snapshots")
    assert outcome.clean["deploy_id"].tolist() == ["dep-000005"]
    assert outcome.quarantined.set_index("quarantine_id")["reasons"].to_dict() == {
        "config_snapshots:dep-000000#row0": reason("be_unique", "deploy_id"),
        "config_snapshots:dep-000000#row1": reason("be_unique", "deploy_id"),
        "config_snapshots:dep-000002": reason("be_between", "n_fields"),
        "config_snapshots:dep-000003": reason("be_in_set", "component"),
        "config_snapshots:dep-000004": reason("not_be_null", "config_hash"),
    }
    failed = outcome.results.loc[~outcome.results["success"], "unexpected_count"].tolist()
    assert failed == [2, 1, 1, 1]


@pytest.mark.parametrize(
    ("table", "missing"),
    [(KARMA_EVENTS, "known_components"), (DEPLOY_RECORDS, "environments"), (DEPLOY_RECORDS, "max_ts")],
)
def test_missing_suite_parameter_is_named(table, missing):
    params = {k: v for k, v in PARAMS.items() if k != missing}
    with pytest.raises(MissingSuiteParameter, match=rf"suite '{table.name}'.*'{missing}'"):
        validate_table(table.empty(), table, params)


def test_suites_match_the_schema():
    deploy_suite = load_suite("deploy_records")
    value_sets = {
        e["kwargs"]["column"]: e["kwargs"]["value_set"]
        for e in deploy_suite.expectations
        if e["type"] == "expect_column_values_to_be_in_set"
    }
    assert value_sets["action"] == list(DEPLOY_ACTIONS)
    assert value_sets["outcome"] == list(DEPLOY_OUTCOMES)
    assert deploy_suite.parameters == ["environments", "known_components", "max_ts", "min_ts"]
    assert load_suite("karma_events").parameters == ["event_types", "known_components", "max_ts", "min_ts"]
    assert load_suite("config_snapshots").parameters == ["known_components"]
    for name in ("karma_events", "deploy_records", "config_snapshots"):
        assert set(load_suite(name).columns) <= set(TABLES[name].names)


def test_a_suite_gx_cannot_read_is_an_error_not_a_pass(tmp_path):
    suite = {
        "name": "config_snapshots",
        "expectations": [
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "deploy_id"}},
            {"type": "expect_column_values_to_be_purple", "kwargs": {"column": "component"}},
        ],
    }
    (tmp_path / "config_snapshots.json").write_text(json.dumps(suite))
    with pytest.raises(ValueError, match="GX rejected"):
        validate_table(
            snapshots({}), CONFIG_SNAPSHOTS, PARAMS, suite=load_suite("config_snapshots", tmp_path)
        )


def test_data_docs_page_is_written_for_a_validation(events, tmp_path):
    docs = tmp_path / "docs" / "karma_events.html"
    outcome = validate_table(events, KARMA_EVENTS, PARAMS, docs_path=docs)
    html = docs.read_text()
    assert "<html" in html.lower() and "karma_events" in html
    assert not outcome.success and "idempotency_key" in html
