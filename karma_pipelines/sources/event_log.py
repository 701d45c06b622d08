"""Reading a Karma world's event log into `karma_events`: every line kept, parsed as far as it goes.

Nothing is dropped or judged here: a malformed line becomes a row that says what is wrong with it
(`parse_error`, a null `ts`, `attrs_kind`, `duplicate_of`, …) and validation quarantines it later.
Rows come out in file order (files by name, then line number); events can arrive late, so consumers
sort by `ts` themselves.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from karma_pipelines.schema import KARMA_EVENTS

# A `ts` counts only when it is a string holding at least a full calendar date (ISO 8601, extended
# or basic); pandas' ISO 8601 parser would otherwise accept a bare year such as "2026".
_TS_SHAPE = r"^\s*\d{4}-?\d{2}-?\d{2}(?:[T ]|\s*$)"
_ENVELOPE_STRINGS = ("event_type", "entity_id", "correlation_id", "idempotency_key", "source")
_MISSING = object()
_TS_DTYPE = next(c.dtype for c in KARMA_EVENTS.columns if c.name == "ts")


class WorldNotFound(FileNotFoundError):
    """The folder given is not (part of) a Karma world: it lacks the files we read."""


def json_kind(value: Any) -> str:
    """The JSON kind of a decoded value: object, array, string, number, boolean or null."""
    if value is _MISSING:
        return "missing"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if value is None:
        return "null"
    return type(value).__name__


def _as_text(value: Any) -> str | None:
    """An envelope field as text: strings as they are, null/missing as None, others as JSON."""
    if isinstance(value, str):
        return value
    if value is None or value is _MISSING:
        return None
    return json.dumps(value)


def _event_files(events_dir: Path) -> list[Path]:
    events_dir = Path(events_dir)
    if not events_dir.is_dir():
        raise WorldNotFound(f"event log folder not found: {events_dir}")
    files = sorted(p for p in events_dir.glob("*.jsonl") if p.is_file())
    if not files:
        raise WorldNotFound(
            f"no event files (*.jsonl) in {events_dir}; expected <world>/events/YYYY-MM-DD.jsonl"
        )
    return files


def _file_lines(path: Path) -> list[tuple[str, str | None]]:
    """(line text, decoding error) per physical line; split on "\\n" only, as JSON Lines does."""
    data = path.read_bytes()
    try:
        return [(line, None) for line in data.decode("utf-8").split("\n")]
    except UnicodeDecodeError:
        out: list[tuple[str, str | None]] = []
        for raw in data.split(b"\n"):
            try:
                out.append((raw.decode("utf-8"), None))
            except UnicodeDecodeError as exc:
                out.append((raw.decode("utf-8", errors="replace"), f"not UTF-8: {exc.reason}"))
        return out


def read_event_log(events_dir: Path) -> pd.DataFrame:
    """Every non-blank line of every `*.jsonl` file in `events_dir` as one `karma_events` row."""
    columns: dict[str, list[Any]] = {name: [] for name in KARMA_EVENTS.names if name != "ts"}
    record_id, source_file, line_no, raw_col = (
        columns["record_id"],
        columns["source_file"],
        columns["line_no"],
        columns["raw"],
    )
    parse_error, ts_raw = columns["parse_error"], columns["ts_raw"]
    attrs_kind, attrs_col, tags_col = columns["attrs_kind"], columns["attrs"], columns["tags"]
    duplicate_of = columns["duplicate_of"]
    envelope = [columns[name] for name in _ENVELOPE_STRINGS]
    idempotency_key = columns["idempotency_key"]
    ts_is_text: list[bool] = []
    first_seen: dict[str, str] = {}
    loads = json.loads

    for path in _event_files(events_dir):
        name = path.name
        for number, (line, decode_error) in enumerate(_file_lines(path), start=1):
            if line.endswith("\r"):
                line = line[:-1]
            if not line.strip():
                continue
            rid = f"{name}:{number}"
            record_id.append(rid)
            source_file.append(name)
            line_no.append(number)
            raw_col.append(line)

            error = decode_error
            obj: Any = None
            if error is None:
                try:
                    obj = loads(line)
                except ValueError as exc:  # JSONDecodeError is a ValueError
                    error = f"not JSON: {getattr(exc, 'msg', exc)}"
                except RecursionError:
                    error = "not JSON: nested too deeply"
                else:
                    if not isinstance(obj, dict):
                        error = f"not a JSON object: {json_kind(obj)}"
            if error is not None:
                parse_error.append(error)
                ts_raw.append(None)
                ts_is_text.append(False)
                for col in envelope:
                    col.append(None)
                attrs_kind.append("missing")
                attrs_col.append({})
                tags_col.append({})
                duplicate_of.append(None)
                continue

            parse_error.append(None)
            ts = obj.get("ts")
            ts_raw.append(_as_text(ts))
            ts_is_text.append(isinstance(ts, str))
            for col, field in zip(envelope, _ENVELOPE_STRINGS, strict=True):
                value = obj.get(field)
                col.append(value if isinstance(value, str) else _as_text(value))
            attrs = obj.get("attrs", _MISSING)
            attrs_kind.append(json_kind(attrs))
            attrs_col.append(attrs if isinstance(attrs, dict) else {})
            tags = obj.get("tags")
            tags_col.append(tags if isinstance(tags, dict) else {})
            key = idempotency_key[-1]
            first = None if key is None else first_seen.setdefault(key, rid)
            duplicate_of.append(first if first != rid else None)

    frame = pd.DataFrame(
        {name: pd.Series(values, dtype="object") for name, values in columns.items()}
    )
    frame["line_no"] = np.asarray(line_no, dtype="int64")
    frame["ts"] = _parse_ts(frame["ts_raw"], np.asarray(ts_is_text, dtype=bool))
    return KARMA_EVENTS.conform(frame)


def _parse_ts(ts_raw: pd.Series, is_text: np.ndarray) -> pd.Series:
    """UTC timestamps for the ISO 8601 strings; null for anything else (numbers, junk, missing)."""
    text = ts_raw.where(is_text).astype("string")
    ok = text.str.match(_TS_SHAPE).fillna(False).to_numpy(dtype=bool)
    parsed = pd.Series(pd.NaT, index=ts_raw.index, dtype=_TS_DTYPE)
    if ok.any():
        values = pd.to_datetime(text[ok], format="ISO8601", utc=True, errors="coerce")
        parsed[ok] = values.astype(_TS_DTYPE)
    return parsed


def read_world_components(world_dir: Path) -> set[str]:
    """Component keys `<type>/<nickname>` of the world, from `configs/iac/<env>/<type>/<nick>/`."""
    iac = Path(world_dir) / "configs" / "iac"
    if not iac.is_dir():
        raise WorldNotFound(f"component configs folder not found: {iac}")
    components = {
        f"{path.parent.parent.name}/{path.parent.name}" for path in iac.glob("*/*/*/config.json")
    }
    if not components:
        raise WorldNotFound(f"no component configs (<env>/<type>/<nickname>/config.json) in {iac}")
    return components
