"""What a user sees on the asset pages: column schemas, row counts, redacted previews, quarantine
examples whose counts add up, and summaries short enough to show inline."""

import json
import re

import dagster as dg
import pandas as pd
import pytest

from karma_pipelines.contracts.redaction import REDACTED
from karma_pipelines.contracts.schema import (
    CONFIG_SNAPSHOTS,
    DEPLOY_RECORDS,
    KARMA_EVENTS,
    QUARANTINED_RECORDS,
)
from karma_pipelines.definitions import build_definitions
from karma_pipelines.defs.metadata import (
    INLINE_MARKDOWN,
    _counts_table,
    column_schema,
    inline_markdown,
    preview,
    quarantine_metadata,
)
from karma_pipelines.defs.resources import KarmaSourceResource, MlflowResource
from karma_pipelines.defs.run import execute_all
from karma_pipelines.simulator import SimulationConfig, simulate_world

CONTRACTS = {
    "source_records": KARMA_EVENTS,
    "clean_karma_events": KARMA_EVENTS,
    "deploy_records": DEPLOY_RECORDS,
    "config_snapshots": CONFIG_SNAPSHOTS,
    "quarantined_records": QUARANTINED_RECORDS,
}
TABLE_ASSETS = [*CONTRACTS, "rollback_features", "change_failure_rate"]
SELECTION = [
    dg.AssetKey(k)
    for k in ("karma_world", "source_batches", *CONTRACTS, "rollback_features", "change_failure_rate")
]
# Config fields the simulator fills with a secret: passwords, connection strings, ECS secrets.
PLANTED = re.compile(r"(password|DATABASE_URL|secrets\.)", re.IGNORECASE)
EVENT_LINE = re.compile(r"^(\d{4}-\d{2}-\d{2}\.jsonl):(\d+)$")


def planted_secrets(events_dir) -> set[str]:
    """Every value the simulator wrote under a secret field, read back from the event files."""
    found: set[str] = set()

    def walk(value, key=""):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{key}.{k}")
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif isinstance(value, str) and PLANTED.search(key) and len(value) >= 8:
            found.add(value)

    for path in events_dir.glob("*.jsonl"):
        for line in path.read_text().splitlines():
            try:
                walk(json.loads(line))
            except ValueError:
                continue
    return found


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("metadata")
    world = tmp / "world"
    simulate_world(world, SimulationConfig(seed=3, components=20, days=20))
    source = KarmaSourceResource(kind="simulator", path=str(world), seed=3, components=20, days=20)
    defs = build_definitions(source, MlflowResource(home=str(tmp)), storage_dir=str(tmp / "io"))
    with dg.instance_for_test() as instance:
        result = execute_all(defs, instance, source, asset_selection=SELECTION)
        assert result.success
        metadata = {
            m.asset_key.to_user_string(): m.metadata
            for m in (
                e.step_materialization_data.materialization for e in result.get_asset_materialization_events()
            )
        }
        outputs = {"source_records": result.output_for_node("source_records").events}
        for name in ["clean_karma_events", "deploy_records", "config_snapshots", "quarantined_records"]:
            outputs[name] = result.output_for_node("validated_source_tables", name)
        outputs["rollback_features"] = result.output_for_node("rollback_features")
        outputs["change_failure_rate"] = result.output_for_node("change_failure_rate")
        specs = {s.key.to_user_string(): s for s in defs.resolve_all_asset_specs()}
        yield {"world": world, "metadata": metadata, "outputs": outputs, "specs": specs}


def test_every_table_asset_has_its_schema_and_row_count(run):
    for name in TABLE_ASSETS:
        meta, frame = run["metadata"][name], run["outputs"][name]
        schema = meta["dagster/column_schema"].value
        names = [c.name for c in schema.columns]
        assert names == list(frame.columns), name
        assert isinstance(meta["dagster/row_count"], dg.IntMetadataValue), name
        assert meta["dagster/row_count"].value == len(frame), name
        if name in CONTRACTS:
            table = CONTRACTS[name]
            assert names == table.names, name
            described = {c.name: c.description for c in schema.columns}
            assert described == {c.name: c.description for c in table.columns}, name
            # Before any materialization, the definition already carries the contract's schema.
            static = run["specs"][name].metadata["dagster/column_schema"]
            assert [c.name for c in static.schema.columns] == table.names, name


def test_no_planted_secret_in_any_metadata(run):
    secrets = planted_secrets(run["world"] / "events")
    assert secrets, "the simulated world plants no secret: the test would prove nothing"
    raw = "\n".join(run["outputs"]["source_records"]["raw"].dropna())
    assert not any(s in raw for s in secrets)  # redacted where the source reads them: not even raw
    for name, meta in run["metadata"].items():
        text = repr(dict(meta))
        leaked = sorted(s for s in secrets if s in text)
        assert not leaked, f"{name} metadata shows {leaked[:3]}"
    for name in TABLE_ASSETS[:5]:
        shown = {c for r in run["metadata"][name]["preview"].value.records for c in r.data}
        assert not shown & {"raw", "attrs", "tags", "config_json", "record"}, name


def test_quarantine_examples_add_up_and_name_file_and_line(run):
    meta, failed = run["metadata"]["quarantined_records"], run["outputs"]["quarantined_records"]
    assert len(failed) > 0, "the simulated world plants bad lines: some must be quarantined"
    by_set = [r.data for r in meta["rows_by_reason_set"].value.records]
    assert sum(r["rows"] for r in by_set) == meta["dagster/row_count"].value == len(failed)
    assert len({(r["table"], r["reasons"]) for r in by_set}) == len(by_set) == meta["reason_sets"].value
    per_expectation = [r.data for r in meta["rows_failing_each_expectation"].value.records]
    assert sum(r["rows_failing"] for r in per_expectation) == int(failed["n_reasons"].sum())

    examples = [r.data for r in meta["examples"].value.records]
    assert {(r["table"], r["reasons"]) for r in examples} == {(r["table"], r["reasons"]) for r in by_set}
    ids = set(zip(failed["table"], failed["record_id"], failed["reasons"], strict=True))
    for example in examples:
        assert (example["table"], example["where"], example["reasons"]) in ids
        if example["table"] == "karma_events":
            file, line = EVENT_LINE.match(example["where"]).groups()
            lines = (run["world"] / "events" / file).read_text().splitlines()
            assert 1 <= int(line) <= len(lines)
        assert example["record"]


def test_insight_summary_is_short_enough_to_show_inline(run):
    meta = run["metadata"]["change_failure_rate"]
    assert isinstance(meta["summary"], dg.MarkdownMetadataValue)
    assert len(meta["summary"].value) < INLINE_MARKDOWN
    assert isinstance(meta["table_weekly"], dg.TableMetadataValue)  # tables render inline, unlike markdown
    assert meta["plot"].value.startswith("![")


# -- the builders on their own ------------------------------------------------------------------------


def test_preview_redacts_values_and_leaves_out_raw_and_secret_columns():
    frame = pd.DataFrame(
        {
            "record_id": ["a.jsonl:1", "a.jsonl:2"],
            "message": ["use postgres://app:hunter2hunter2@db.internal/app", "fine"],
            "db_password": ["hunter3hunter3", "x"],
            "raw": ['{"password": "hunter4hunter4"}', "{}"],
            "score": [0.123456789, float("nan")],
            "author": ["emeka", "chen"],
        }
    )
    records = [r.data for r in preview(frame, allowed=["author"]).value.records]
    text = repr(records)
    for secret in ("hunter2hunter2", "hunter3hunter3", "hunter4hunter4"):
        assert secret not in text
    assert set(records[0]) == {"record_id", "message", "score", "author"}
    assert records[0]["message"] == f"use postgres://app:{REDACTED}@db.internal/app"  # the password only
    assert records[0]["score"] == 0.1235 and records[1]["score"] is None  # rounded, NaN as null
    assert "author" not in {c for r in preview(frame).value.records for c in r.data}  # `auth` is secret-like


def test_column_schema_from_dtypes_and_counts_that_still_add_up():
    frame = pd.DataFrame(
        {
            "n": [1, 2],
            "x": [0.5, 1.5],
            "when": pd.to_datetime(["2026-01-01"] * 2, utc=True).astype("datetime64[ns, UTC]"),
        }
    )
    schema = column_schema(frame, {"n": "a count"})
    assert [(c.name, c.type, c.description) for c in schema.columns] == [
        ("n", "int64", "a count"),
        ("x", "float64", None),
        ("when", "datetime64[ns, UTC]", None),
    ]
    counts = pd.DataFrame({"reasons": [f"r{i}" for i in range(50)], "rows": range(1, 51)})
    folded = [r.data for r in _counts_table(counts, "rows", 40).value.records]
    assert len(folded) == 40 and sum(r["rows"] for r in folded) == sum(range(1, 51))
    assert folded[-1]["reasons"] == "(11 more)"


def test_reason_sets_are_not_exploded():
    failed = QUARANTINED_RECORDS.conform(
        pd.DataFrame(
            {
                "quarantine_id": [
                    "karma_events:f.jsonl:1",
                    "karma_events:f.jsonl:2",
                    "karma_events:f.jsonl:3",
                ],
                "table": "karma_events",
                "record_id": ["f.jsonl:1", "f.jsonl:2", "f.jsonl:3"],
                "reasons": ["a(x); b(y)", "a(x)", "a(x); b(y)"],
                "n_reasons": [2, 1, 2],
                "record": ['{"db_password": "hunter5hunter5"}', "{}", "not json"],
            }
        )
    )
    meta = quarantine_metadata(failed)
    sets = {r.data["reasons"]: r.data["rows"] for r in meta["rows_by_reason_set"].value.records}
    assert sets == {"a(x); b(y)": 2, "a(x)": 1}
    each = {
        r.data["expectation"]: r.data["rows_failing"]
        for r in meta["rows_failing_each_expectation"].value.records
    }
    assert each == {"a(x)": 3, "b(y)": 2}
    examples = [r.data for r in meta["examples"].value.records]
    assert [e["where"] for e in examples] == ["f.jsonl:1", "f.jsonl:3", "f.jsonl:2"]
    assert "hunter5hunter5" not in repr(examples)


def test_long_markdown_keeps_its_head_inline():
    text = "\n\n".join(f"paragraph {i} " + "x" * 300 for i in range(6))
    out = inline_markdown("summary", text)
    assert len(out["summary"].value) < INLINE_MARKDOWN and out["summary"].value.startswith("paragraph 0")
    assert out["summary_full"].value == text
    assert set(inline_markdown("summary", "short")) == {"summary"}
