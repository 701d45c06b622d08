"""Validate a table with its suite and split it: clean rows go on, failing rows go to quarantine."""

from __future__ import annotations

import datetime as dt
import json
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from karma_pipelines.contracts.redaction import MAY_HOLD_SECRET, redact, redact_json_line
from karma_pipelines.contracts.schema import KARMA_EVENTS, QUARANTINED_RECORDS, Table
from karma_pipelines.validation.gx_runner import run_suite
from karma_pipelines.validation.suites import Suite, load_suite

NULL_KEY_PREFIX = "#row"  # record_id of a row whose key is null: `#row<position in the input>`


@dataclass
class ValidationOutcome:
    clean: pd.DataFrame  # the passing rows, same columns & dtypes as the input
    quarantined: pd.DataFrame  # conforms to QUARANTINED_RECORDS
    results: pd.DataFrame  # one row per expectation: expectation, column, success, unexpected_count
    success: bool  # every expectation passed


def validate_table(
    frame: pd.DataFrame,
    table: Table,
    parameters: dict[str, Any],
    suite: Suite | None = None,
    docs_path: Path | None = None,
) -> ValidationOutcome:
    """Run `table`'s suite (assets/expectations/<table>.json) with GX on `frame` and split it.

    Every input row ends in exactly one of `clean` / `quarantined`; a row failing several
    expectations is quarantined once, with every reason in suite order. `parameters` fills the
    suite's `{"$PARAMETER": …}` values (extra names are ignored). With `docs_path`, GX's Data Docs
    page of this validation is written there (HTML).
    """
    suite = suite or load_suite(table.name)
    suite.check_parameters(parameters)
    missing = [c for c in [table.key, *suite.columns] if c not in frame.columns]
    if missing:
        raise KeyError(f"{table.name}: suite {suite.name!r} needs missing columns {missing}")

    frame = frame.reset_index(drop=True)
    outcomes = run_suite(frame, suite, parameters, docs_path=docs_path)

    failed = np.zeros((len(frame), len(suite.expectations)), dtype=bool)
    for res in outcomes:
        failed[res.rows, res.index] = True
    bad = failed.any(axis=1)

    results = pd.DataFrame(
        {
            "expectation": [suite.expectations[r.index]["type"] for r in outcomes],
            "column": [suite.expectations[r.index]["kwargs"]["column"] for r in outcomes],
            "success": [r.success for r in outcomes],
            "unexpected_count": np.array([r.unexpected_count for r in outcomes], dtype=np.int64),
        }
    )
    return ValidationOutcome(
        clean=frame.loc[~bad].reset_index(drop=True),
        quarantined=_quarantine(frame, np.flatnonzero(bad), failed, table, suite),
        results=results,
        success=bool(results["success"].all()),
    )


def _quarantine(
    frame: pd.DataFrame, positions: np.ndarray, failed: np.ndarray, table: Table, suite: Suite
) -> pd.DataFrame:
    if len(positions) == 0:
        return QUARANTINED_RECORDS.empty()
    reasons_of = np.array([suite.reason(i) for i in range(len(suite.expectations))], dtype=object)
    rows = frame.iloc[positions]
    keys = rows[table.key].astype("string")
    record_id = [
        f"{NULL_KEY_PREFIX}{pos}" if pd.isna(k) else str(k) for pos, k in zip(positions, keys, strict=True)
    ]
    quarantine_id = pd.Series([f"{table.name}:{r}" for r in record_id])
    # A duplicated key (itself a reason for quarantine) would repeat the id: add the position.
    dup = quarantine_id.duplicated(keep=False).to_numpy()
    quarantine_id[dup] = [
        f"{q}{NULL_KEY_PREFIX}{p}" for q, p in zip(quarantine_id[dup], positions[dup], strict=True)
    ]

    if table.name == KARMA_EVENTS.name and "raw" in frame.columns:
        records = _redacted_lines(rows["raw"].astype("string"))
    else:
        records = [
            json.dumps({col: redact(_plain(v)) for col, v in row.items()}, default=str)
            for row in rows.to_dict("records")
        ]
    return QUARANTINED_RECORDS.conform(
        pd.DataFrame(
            {
                "quarantine_id": quarantine_id,
                "table": table.name,
                "record_id": record_id,
                "reasons": _with_details(rows, [list(reasons_of[failed[p]]) for p in positions]),
                "n_reasons": failed[positions].sum(axis=1),
                "record": records,
            }
        )
    )


# Columns whose value says what is wrong: appended to the reason of the expectation on them.
_DETAILED = {"attrs_kind": "object: ", "envelope_error": "", "conflicts_with": "", "parse_error": ""}


def _with_details(rows: pd.DataFrame, reasons: list[list[str]]) -> list[str]:
    """Each row's reasons, `; `-joined; a reason on a detailed column names what is wrong (an object
    whose content is invalid: `attrs.deploy_id is an array, …`; a field of the wrong type; the
    conflicting copies)."""
    columns = [c for c in _DETAILED if c in rows.columns]
    if not columns:
        return ["; ".join(r) for r in reasons]
    details = {c: rows[c].astype("string").tolist() for c in columns}
    out = []
    for i, row_reasons in enumerate(reasons):
        detailed = []
        for r in row_reasons:
            for column in columns:
                value, prefix = details[column][i], _DETAILED[column]
                if r.endswith(f"({column})") and not pd.isna(value) and value.startswith(prefix):
                    r = f"{r}: {value[len(prefix) :]}"
            detailed.append(r)
        out.append("; ".join(detailed))
    return out


def _plain(value: Any) -> Any:
    """A cell as plain JSON-able Python: NA → None, timestamps → ISO text, numpy → Python."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (pd.Timestamp, dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _redacted_lines(lines: pd.Series) -> list[str | None]:
    """Raw event lines, redacted (sources redact at their edge already: this keeps a frame built
    elsewhere safe too); a line with no secret-like name, value or long word is kept as is."""
    # The redaction patterns, run over whole lines at once (vectorised): a line that matches none
    # (and has no JSON escapes that could hide a match) cannot hold a secret.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "This pattern is interpreted as a regular expression")
        suspect = lines.str.contains(MAY_HOLD_SECRET.pattern, regex=True).fillna(False)
    return [
        redact_json_line(line) if flag else (None if pd.isna(line) else line)
        for line, flag in zip(lines, suspect, strict=True)
    ]
