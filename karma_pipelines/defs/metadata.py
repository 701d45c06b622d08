"""Dagster metadata from library results: numbers as numbers, tables as schemas, counts and redacted
previews, never a raw config value.

What the Dagster UI (1.13) shows without a click on an asset's overview page: the `dagster/row_count`
tag, the Columns section (`dagster/column_schema`, definition descriptions merged into the latest
materialization's schema), and in the Metadata section every `MetadataValue.table`, numbers and texts,
and markdown shorter than 1,000 characters. Longer markdown (e.g. a base64 PNG plot) sits behind
"[Show Markdown]"; the asset `description` is static (definition time), so results cannot go there.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

from karma_pipelines.contracts.redaction import is_secret_field, redact
from karma_pipelines.contracts.schema import Table

INLINE_MARKDOWN = 1000  # the UI renders markdown metadata inline below this many characters
# Columns that hold a config or a raw line (config values, maybe secrets): never in a preview.
RAW_COLUMNS = frozenset({"raw", "attrs", "tags", "config_json", "record"})
PREVIEW_ROWS = 5
MAX_CELL = 60
FULL = 2000  # cells never shortened (reason lists)
SIGNIFICANT = 4


def numbers(values: dict[str, float], prefix: str = "") -> dict[str, dg.MetadataValue]:
    """Finite numbers as float/int metadata (Dagster plots them over time)."""
    out: dict[str, dg.MetadataValue] = {}
    for key, value in values.items():
        if isinstance(value, bool | int) and not isinstance(value, float):
            out[f"{prefix}{key}"] = dg.MetadataValue.int(int(value))
        elif isinstance(value, float) and math.isfinite(value):
            out[f"{prefix}{key}"] = dg.MetadataValue.float(float(value))
    return out


# -- column schema and row count ----------------------------------------------------------------------


def column_schema(
    source: Table | pd.DataFrame, descriptions: Mapping[str, str] | None = None
) -> dg.TableSchema:
    """`dagster/column_schema` of a contract `Table` (types, descriptions, nullability, key) or, for
    a table without a contract, of a DataFrame's dtypes (descriptions from `descriptions`)."""
    descriptions = descriptions or {}
    if isinstance(source, Table):
        columns = [
            dg.TableColumn(
                name=c.name,
                type=c.dtype,
                description=descriptions.get(c.name, c.description),
                constraints=dg.TableColumnConstraints(nullable=c.nullable, unique=c.name == source.key),
            )
            for c in source.columns
        ]
        return dg.TableSchema(columns=columns)
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name=str(name), type=str(dtype), description=descriptions.get(str(name)))
            for name, dtype in source.dtypes.items()
        ]
    )


def definition_metadata(table: Table) -> dict[str, dg.MetadataValue]:
    """Definition-time metadata of a contract table: its schema shows before any materialization."""
    return {"dagster/column_schema": dg.MetadataValue.table_schema(column_schema(table))}


def table_metadata(
    frame: pd.DataFrame,
    table: Table | None = None,
    preview_rows: int = PREVIEW_ROWS,
    columns: Sequence[str] | None = None,
    descriptions: Mapping[str, str] | None = None,
) -> dict[str, dg.MetadataValue]:
    """Row count, column schema (the contract's when there is one) and a redacted preview (none
    with `preview_rows=0`: an asset that shows its rows in another order, e.g. riskiest first)."""
    schema = column_schema(table if table is not None else frame, descriptions)
    out = {
        "dagster/row_count": dg.MetadataValue.int(len(frame)),
        "dagster/column_schema": dg.MetadataValue.table_schema(schema),
    }
    if preview_rows:
        out["preview"] = preview(frame, preview_rows, columns, allowed=table.names if table else ())
    return out


# -- tables for reading -------------------------------------------------------------------------------


def shown_columns(frame: pd.DataFrame, allowed: Sequence[str] = ()) -> list[str]:
    """Columns fit to show: no raw config or line text; a secret-like name only when a contract
    declares it (`author` matches the secret-name pattern's `auth`)."""
    return [
        str(c)
        for c in frame.columns
        if c not in RAW_COLUMNS and (c in allowed or not is_secret_field(str(c)))
    ]


def cell(value: Any, max_chars: int = MAX_CELL) -> str | int | float | bool | None:
    """One value for reading: redacted, floats to 4 significant digits, text shortened."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return float(f"{value:.{SIGNIFICANT}g}") if math.isfinite(value) else None
    if isinstance(value, pd.Timestamp | dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, pd.Timedelta):
        return str(value)
    if isinstance(value, np.ndarray | tuple):
        value = list(value)
    if isinstance(value, dict | list):
        value = json.dumps(redact(value), default=str)
    text = redacted_text(str(value))
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def redacted_text(text: str) -> str:
    """Text redacted: JSON objects and arrays field by field (secret names), any text by shape."""
    if text[:1] in "{[":
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict | list):
            cleaned = redact(parsed)
            text = text if cleaned == parsed else json.dumps(cleaned)
    return str(redact(text))


def readable(frame: pd.DataFrame, max_chars: int = MAX_CELL) -> pd.DataFrame:
    """`frame` with every cell through `cell` (numbers stay numbers)."""
    return pd.DataFrame(
        {c: [cell(v, max_chars) for v in frame[c]] for c in frame.columns}, index=frame.index, dtype=object
    )


def records_table(frame: pd.DataFrame, max_rows: int = 20, max_chars: int = MAX_CELL) -> dg.MetadataValue:
    """A `MetadataValue.table` (shown inline by the UI) of the first rows, cells through `cell`."""
    shown = readable(frame.head(max_rows), max_chars)
    types = {"b": "bool", "i": "int", "u": "int", "f": "float"}
    schema = dg.TableSchema(
        columns=[dg.TableColumn(str(c), types.get(frame[c].dtype.kind, "string")) for c in frame.columns]
    )
    records = [dg.TableRecord({str(k): v for k, v in row.items()}) for row in shown.to_dict("records")]
    return dg.MetadataValue.table(records, schema)


def preview(
    frame: pd.DataFrame,
    rows: int = PREVIEW_ROWS,
    columns: Sequence[str] | None = None,
    allowed: Sequence[str] = (),
) -> dg.MetadataValue:
    """The first rows of the non-secret columns (`columns` narrows them), values redacted."""
    safe = shown_columns(frame, allowed)
    keep = [c for c in columns if c in safe] if columns is not None else safe
    return records_table(frame[keep], rows)


def markdown_table(frame: pd.DataFrame, max_rows: int = 20, floatfmt: str = ".4g") -> dg.MetadataValue:
    """A markdown table of the first rows, text cells redacted and shortened, floats by `floatfmt`."""
    shown = frame.head(max_rows).copy()
    for col in shown.columns:
        if shown[col].dtype.kind not in "biuf":
            shown[col] = [cell(v, 80) for v in shown[col]]
    text = shown.to_markdown(index=False, floatfmt=floatfmt)
    if len(frame) > max_rows:
        text += f"\n\n… {len(frame) - max_rows} more rows"
    return dg.MetadataValue.md(text)


def inline_markdown(key: str, text: str) -> dict[str, dg.MetadataValue]:
    """Markdown under `key`, shown inline: when too long for that, its leading paragraphs go under
    `key` (with a pointer) and the whole text under `<key>_full`."""
    if len(text) < INLINE_MARKDOWN:
        return {key: dg.MetadataValue.md(text)}
    note = f"\n\n… continued in `{key}_full`"
    head = ""
    for para in text.split("\n\n"):
        candidate = f"{head}\n\n{para}" if head else para
        if len(candidate) + len(note) >= INLINE_MARKDOWN:
            break
        head = candidate
    if not head:
        head = text[: INLINE_MARKDOWN - len(note) - 1].rsplit(" ", 1)[0]
    return {key: dg.MetadataValue.md(head + note), f"{key}_full": dg.MetadataValue.md(text)}


# -- quarantine ---------------------------------------------------------------------------------------


def quarantine_metadata(failed: pd.DataFrame, examples_per_reason: int = 2) -> dict[str, dg.MetadataValue]:
    """Rows per distinct reason set (they add up to the row count), rows failing each expectation
    (a row can fail several: these do not add up), and example rows of each reason set: where they
    came from (`<file>:<line>` for event lines, else the record id) and the record, redacted."""
    groups = failed.groupby(["table", "reasons"], sort=False)
    by_reason = groups.size().rename("rows").reset_index().sort_values("rows", ascending=False, kind="stable")
    per_expectation = (
        failed.assign(expectation=failed["reasons"].str.split("; "))
        .explode("expectation")
        .groupby(["table", "expectation"])
        .size()
        .rename("rows_failing")
        .reset_index()
        .sort_values("rows_failing", ascending=False, kind="stable")
    )
    examples = groups.head(examples_per_reason).assign(
        where=lambda f: f["record_id"], record=lambda f: [cell(r, 160) for r in f["record"]]
    )
    order = {key: i for i, key in enumerate(zip(by_reason["table"], by_reason["reasons"], strict=True))}
    examples = examples.assign(
        _order=[order[k] for k in zip(examples["table"], examples["reasons"], strict=True)]
    )
    examples = examples.sort_values("_order", kind="stable")[["table", "reasons", "where", "record"]]
    return {
        "dagster/row_count": dg.MetadataValue.int(len(failed)),
        "reason_sets": dg.MetadataValue.int(len(by_reason)),
        "rows_by_reason_set": _counts_table(by_reason, "rows", 40),
        "rows_failing_each_expectation": records_table(per_expectation, 40),
        "examples": records_table(examples, 40, max_chars=FULL),  # records already cut to 160
    }


def _counts_table(counts: pd.DataFrame, column: str, max_rows: int) -> dg.MetadataValue:
    """Counts per group, the tail past `max_rows` folded into one row so the column still adds up."""
    if len(counts) > max_rows:
        head, tail = counts.head(max_rows - 1), counts.iloc[max_rows - 1 :]
        other = {c: f"({len(tail)} more)" for c in counts.columns if c != column}
        counts = pd.concat([head, pd.DataFrame([{**other, column: int(tail[column].sum())}])])
    return records_table(counts, max_rows, max_chars=FULL)
