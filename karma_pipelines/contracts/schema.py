"""The tables every source produces, defined once. The data dictionary is generated from here."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

ENVIRONMENTS = ("dev", "staging", "prod")
DEPLOY_ACTIONS = ("create", "update", "promote", "rollback", "delete")
DEPLOY_OUTCOMES = ("succeeded", "failed")
EVENT_TYPES = (
    "change.requested",
    "change.result",
    "deploy.apply",
    "deploy.rollback",
    "validation.failed",
    "downstream.invalidated",
    "promotion",
    "switchover",
    "drift.detected",
    "drift.resolved",
)
DEPLOY_EVENT_TYPES = ("deploy.apply", "deploy.rollback")


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str  # a pandas dtype name, or "object" for lists
    description: str
    nullable: bool = False


@dataclass(frozen=True)
class Table:
    name: str
    key: str
    description: str
    columns: tuple[Column, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def empty(self) -> pd.DataFrame:
        return self.conform(pd.DataFrame({c.name: [] for c in self.columns}))

    def conform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Select and type the table's columns, in order; raises KeyError naming a missing column."""
        missing = [c for c in self.names if c not in frame.columns]
        if missing:
            raise KeyError(f"{self.name}: missing columns {missing}")
        out = frame[self.names]  # copy-on-write (pandas 3): setting a column below never writes to `frame`
        for col in self.columns:
            out[col.name] = out[col.name].astype(col.dtype)
        return out.reset_index(drop=True)


def column_values(column: pd.Series) -> list:
    """`list(column)`, as `itertuples` gives it (missing strings as `pd.NA`), without boxing one pyarrow
    scalar at a time (iterating a pyarrow string column does: most of a loop over a large table)."""
    if isinstance(column.dtype, pd.StringDtype):
        return column.to_numpy(dtype=object, na_value=column.dtype.na_value).tolist()
    return column.tolist()


def shared_values(column: pd.Series) -> list:
    """`column_values(column)` with one object per distinct value: a column of few names (components,
    environments) made Python text once per name, not once per row."""
    codes, uniques = pd.factorize(column)
    values = np.array([*column_values(pd.Series(uniques, dtype=column.dtype)), _na(column)], dtype=object)
    return values[codes].tolist()  # a missing value's code is -1: the last


def _na(column: pd.Series):
    return column.dtype.na_value if isinstance(column.dtype, pd.StringDtype) else None


def column_isin(column: pd.Series, wanted) -> np.ndarray:
    """`column.isin(wanted).to_numpy()` through Python objects and a set: pandas' `isin` of a pyarrow
    string column makes a pyarrow scalar of every wanted value in a Python loop (2.6 s for 345k ids in
    345k, this 0.1 s)."""
    values = wanted if isinstance(wanted, (set, frozenset)) else set(column_values(pd.Series(wanted)))
    return np.fromiter((v in values for v in column_values(column)), dtype=bool, count=len(column))


UTC_TS = "datetime64[ns, UTC]"

KARMA_EVENTS = Table(
    name="karma_events",
    key="record_id",
    description="Every line of the event log, parsed as far as it goes; nothing is dropped here.",
    columns=(
        Column("record_id", "string", "`<file>:<line>`: where the line came from"),
        Column("source_file", "string", "event-log file name"),
        Column("line_no", "int64", "1-based line number in the file"),
        Column("raw", "string[python]", "the line as read (for quarantine and audit)"),
        Column("parse_error", "string", "why the line is not a JSON object, else null", True),
        Column("ts", UTC_TS, "event time, parsed; null when missing or unparseable", True),
        Column("ts_raw", "string", "`ts` as written", True),
        Column("event_type", "string", "envelope `event_type`", True),
        Column("entity_id", "string", "envelope `entity_id` (`<type>/<nickname>`)", True),
        Column("correlation_id", "string", "envelope `correlation_id`", True),
        Column("idempotency_key", "string", "envelope `idempotency_key`", True),
        Column("source", "string", "envelope `source`", True),
        Column("envelope_error", "string", "which envelope field has the wrong JSON type, else null", True),
        Column("attrs_kind", "string", "JSON kind of `attrs`: object, missing, array, string, …"),
        Column("attrs", "object", "`attrs` as a dict (empty when not an object)"),
        Column("tags", "object", "`tags` as a dict"),
        Column("duplicate_of", "string", "record id of an earlier, identical line with this key", True),
        Column(
            "conflicts_with",
            "string",
            "record ids of the other lines with this key when their content differs (all are kept)",
            True,
        ),
    ),
)

DEPLOY_RECORDS = Table(
    name="deploy_records",
    key="deploy_id",
    description="One row per deploy of one component, from any source.",
    columns=(
        Column("deploy_id", "string", "unique id (`dep-…` for the event log, `<sha>:<component>` for Git)"),
        Column("deployed_at", UTC_TS, "when the deploy was applied (commit time for Git)"),
        Column("component", "string", "component key `<type>/<nickname>`"),
        Column("component_type", "string", "component type, e.g. `vpc`"),
        Column("nickname", "string", "component nickname"),
        Column("environment", "string", "environment (`dev`, `staging`, `prod`, or a layout default)"),
        Column("author", "string", "who deployed (user / commit author)"),
        Column("action", "string", f"one of {', '.join(DEPLOY_ACTIONS)}"),
        Column("source", "string", "where the record came from: `cli`, `api`, `ci`, `git`"),
        Column("change_id", "string", "change request id or commit sha"),
        Column("message", "string", "change request text or commit subject (may be empty)"),
        Column("fields_added", "object", "dotted paths added by this deploy"),
        Column("fields_removed", "object", "dotted paths removed"),
        Column("fields_changed", "object", "dotted paths whose value changed"),
        Column("n_fields_added", "int64", "len(fields_added)"),
        Column("n_fields_removed", "int64", "len(fields_removed)"),
        Column("n_fields_changed", "int64", "len(fields_changed)"),
        Column(
            "lines_added", "int64", "lines added: canonical JSON (event log) or the files, like numstat (Git)"
        ),
        Column("lines_removed", "int64", "lines removed"),
        Column("outcome", "string", "`succeeded` or `failed` (known only after the deploy)"),
        Column("is_rollback", "bool", "this deploy undoes an earlier one"),
        Column("rolls_back", "string", "deploy id that this rollback undoes", True),
        Column("labelled", "bool", "the label horizon has passed, so `rolled_back` is final"),
        Column("rolled_back", "boolean", "rolled back within the horizon; null when unlabelled", True),
        Column("rolled_back_at", UTC_TS, "when the rollback happened (any delay)", True),
        Column("rollback_delay_hours", "float64", "hours from deploy to its rollback", True),
    ),
)

CONFIG_SNAPSHOTS = Table(
    name="config_snapshots",
    key="deploy_id",
    description="The config of a component after each deploy (secret values redacted).",
    columns=(
        Column("deploy_id", "string", "the deploy that produced this config"),
        Column("captured_at", UTC_TS, "deploy time"),
        Column("component", "string", "component key"),
        Column("component_type", "string", "component type"),
        Column("environment", "string", "environment"),
        Column("config_hash", "string", "hash of `config_json` (sha256, 16 hex digits)"),
        Column("config_json", "string", "compact sorted JSON of the config, secrets redacted"),
        Column("field_paths", "object", "flattened dotted field paths set in the config"),
        Column("n_fields", "int64", "len(field_paths)"),
        Column("references", "object", "component keys this config depends on"),
    ),
)

QUARANTINED_RECORDS = Table(
    name="quarantined_records",
    key="quarantine_id",
    description="Every row that failed validation, with the failed expectation as its reason.",
    columns=(
        Column("quarantine_id", "string", "`<table>:<record id>`"),
        Column("table", "string", "the table the row belonged to"),
        Column("record_id", "string", "the row's key in that table"),
        Column("reasons", "string", "failed expectations, `; `-separated (`expectation(column)`)"),
        Column("n_reasons", "int64", "how many expectations the row failed"),
        Column("record", "string", "the row as JSON (raw line for events), secrets redacted"),
    ),
)

TABLES = {t.name: t for t in (KARMA_EVENTS, DEPLOY_RECORDS, CONFIG_SNAPSHOTS, QUARANTINED_RECORDS)}


def data_dictionary_markdown() -> str:
    """The data dictionary (assets/schemas/data_dictionary.md is this text; a test keeps them equal)."""
    parts = ["# Data dictionary", "", "Generated from `karma_pipelines/contracts/schema.py`.", ""]
    for table in TABLES.values():
        parts += [f"## `{table.name}`", "", f"{table.description} Key: `{table.key}`.", ""]
        parts += ["| column | type | nullable | meaning |", "|---|---|---|---|"]
        for c in table.columns:
            parts.append(f"| `{c.name}` | {c.dtype} | {'yes' if c.nullable else 'no'} | {c.description} |")
        parts.append("")
    return "\n".join(parts)
