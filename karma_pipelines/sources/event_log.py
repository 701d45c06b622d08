"""Reading a Karma world's event log into `karma_events`: every line kept, parsed as far as it goes.

Nothing is dropped or judged here: a malformed line becomes a row that says what is wrong with it
(`parse_error`, a null `ts`, `attrs_kind`, `duplicate_of`, …) and validation quarantines it later.
Rows come out in file order (files by name, then line number); events can arrive late, so consumers
sort by `ts` themselves.
"""

from __future__ import annotations

import json
import re
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from karma_pipelines.contracts.config_fields import has_long_digit_run, loads_json
from karma_pipelines.contracts.redaction import (
    MAX_DEPTH,
    may_hold_secret,
    redact,
    redact_json_line,
)
from karma_pipelines.contracts.schema import KARMA_EVENTS
from karma_pipelines.sources.event_redelivery import mark_redeliveries
from karma_pipelines.sources.event_values import ENVELOPE_STRINGS as _ENVELOPE_STRINGS
from karma_pipelines.sources.event_values import MAX_ATTRS_DEPTH, json_kind
from karma_pipelines.sources.event_values import MISSING as _MISSING
from karma_pipelines.sources.event_values import attrs_kind as _attrs_kind
from karma_pipelines.sources.event_values import envelope_error as _envelope_error
from karma_pipelines.sources.event_values import without_surrogates as _without_surrogates
from karma_pipelines.sources.gc_pause import without_cyclic_gc
from karma_pipelines.sources.shared_values import SharedValues

# A `ts` counts only when it is a string holding at least a full calendar date (ISO 8601, extended
# or basic); pandas' ISO 8601 parser would otherwise accept a bare year such as "2026".
_TS_SHAPE = r"^\s*\d{4}-?\d{2}-?\d{2}(?:[T ]|\s*$)"
_TS_DTYPE = next(c.dtype for c in KARMA_EVENTS.columns if c.name == "ts")
_TS_MIN, _TS_MAX = pd.Timestamp.min.tz_localize("UTC"), pd.Timestamp.max.tz_localize("UTC")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # a JSON escape that may decode to a lone surrogate
_JSON_SPACE = " \t\r"  # JSON's white space besides the line feed that separates lines


class WorldNotFound(FileNotFoundError):
    """The folder given is not (part of) a Karma world: it lacks the files we read."""


def _as_text(value: Any) -> str | None:
    """An envelope field as text: strings as they are, null/missing as None, others as JSON (for
    audit only: `envelope_error` quarantines the line)."""
    if isinstance(value, str):
        return value
    if value is None or value is _MISSING:
        return None
    return json.dumps(value)


def _event_files(events_dir: Path) -> list[Path]:
    events_dir = Path(events_dir)
    if not events_dir.is_dir():
        raise WorldNotFound(f"event log folder not found: {events_dir}")
    files = sorted(events_dir.glob("*.jsonl"))  # folders and links too: `unreadable` says why not read
    if not files:
        raise WorldNotFound(
            f"no event files (*.jsonl) in {events_dir}; expected <world>/events/YYYY-MM-DD.jsonl"
        )
    return files


def unreadable(path: Path) -> str | None:
    """Why an event-log entry is not read (one quarantined row says so), or None for a plain file."""
    world = path.parent.parent.resolve()
    if path.is_symlink():
        target = path.resolve()
        if not target.is_relative_to(world):
            return f"{path.name} is a symbolic link out of the world folder: not read"
        if not target.exists():
            return f"{path.name} is a broken symbolic link"
    if path.is_dir():
        return f"{path.name} is a folder, not an event file"
    if not path.is_file():
        return f"{path.name} is not a regular file"
    return None


def _file_lines(path: Path) -> list[tuple[str, str | None]]:
    """(line text, decoding error) per physical line; split on "\\n" only, as JSON Lines does. A
    UTF-8 byte order mark before the first line is no part of it."""
    data = path.read_bytes().removeprefix(b"\xef\xbb\xbf")
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


_PARSED = (
    "parse_error",
    "ts_raw",
    *_ENVELOPE_STRINGS,
    "envelope_error",
    "attrs_kind",
    "attrs",
    "tags",
)
_UNPARSED = (None,) * (len(_ENVELOPE_STRINGS) + 2) + ("missing", {}, {})


def _parse_line(line: str, decode_error: str | None, suspect: bool, shared: SharedValues) -> tuple[Any, ...]:
    """The line as kept (`raw`: redacted when `suspect`, i.e. it may hold a secret), its `_PARSED`
    fields and whether `ts` was a string; `attrs` and `tags` redacted here, where the source reads
    them (no later stage sees a raw secret), and shared (one object per distinct value: a deploy's config
    repeats its previous version but for a field or two)."""
    try:
        obj = loads_json(line) if decode_error is None else None
    except ValueError as exc:  # JSONDecodeError is a ValueError
        decode_error = f"not JSON: {getattr(exc, 'msg', exc)}"
    except RecursionError:
        decode_error = "not JSON: nested too deeply"
    if decode_error is None and not isinstance(obj, dict):
        decode_error = f"not a JSON object: {json_kind(obj)}"
    if decode_error is not None:
        return (redact_json_line(line) if suspect else line, decode_error, *_UNPARSED, False)
    surrogates = bool(_SURROGATE_ESCAPE.search(line))
    if surrogates:
        obj = _without_surrogates(obj, MAX_ATTRS_DEPTH + 2)
    get = obj.get
    ts = get("ts")
    attrs = get("attrs", _MISSING)
    tags = get("tags")
    kind = _attrs_kind(attrs, line)  # on the line as written (redaction bounds the depth it keeps)
    raw = line
    if _plain_envelope(obj, attrs, tags, line, surrogates) and _as_orjson_decodes(line):
        # `redact(obj)`, each section redacted and shared once per log (`SharedValues.redacted`): its attrs
        # and tags are those redacted, and the line is re-written when redaction changed it (as
        # `redact_json_line` does).
        whole = redact(obj, _child=partial(_redacted_section, shared))
        attrs, tags = whole.get("attrs", _MISSING), whole.get("tags")
        if suspect and orjson.dumps(whole) != orjson.dumps(obj):
            raw = json.dumps(whole)
    else:
        if suspect:
            raw = redact_json_line(line)
            attrs = attrs if attrs is _MISSING else redact(attrs)
            tags = redact(tags)
        attrs = shared.share(attrs, root=True) if isinstance(attrs, dict) else attrs
        tags = shared.share(tags) if isinstance(tags, dict) else tags
    return (
        raw,
        None,
        _as_text(ts),
        _as_text(get("event_type")),
        _as_text(get("entity_id")),
        _as_text(get("correlation_id")),
        _as_text(get("idempotency_key")),
        _as_text(get("source")),
        _envelope_error(obj),
        kind,
        attrs if isinstance(attrs, dict) else {},
        tags if isinstance(tags, dict) else {},
        isinstance(ts, str),
    )


def _redacted_section(shared: SharedValues, value: Any, key: str, depth: int) -> Any:
    """A line's object or array redacted through `shared`; its `attrs` walked, never looked up whole (it
    holds the deploy's own id: it never repeats)."""
    if depth == 1 and key == "attrs" and type(value) is dict:
        return redact(value, key, depth, _child=shared.redacted)
    return shared.redacted(value, key, depth)


def _as_orjson_decodes(line: str) -> bool:
    """Whether `loads_json(line)` was orjson's, values `orjson.dumps` writes back exactly: no NaN or
    Infinity (orjson refuses them), no run of 19 digits (a big integer, decoded by `json`)."""
    return "NaN" not in line and "Infinity" not in line and not has_long_digit_run(line)


def _plain_envelope(obj: dict, attrs: Any, tags: Any, line: str, surrogates: bool) -> bool:
    """Whether `redact(obj)` holds exactly `redact(attrs)` and `redact(tags)`: both objects (or absent),
    the envelope no name/value pair, nothing nested near redaction's depth bound, no surrogate fixed."""
    return (
        not surrogates
        and (attrs is _MISSING or isinstance(attrs, dict))
        and (tags is None or isinstance(tags, dict))
        and not any(k in obj for k in ("name", "key", "Name", "Key"))
        and line.count("{") + line.count("[") < MAX_DEPTH - 2
    )


def event_days(events_dir: Path) -> list[str]:
    """The event files' stems (`2026-01-05` for `2026-01-05.jsonl`), in file order: the partitions."""
    return [path.stem for path in _event_files(events_dir)]


def combine_event_days(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """One `karma_events` table from per-file tables (file order), re-delivery marked across files."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return KARMA_EVENTS.empty()
    frame = pd.concat(frames, ignore_index=True)
    return KARMA_EVENTS.conform(mark_redeliveries(frame))


def read_event_log(
    events_dir: Path, days: list[str] | None = None, shared: SharedValues | None = None
) -> pd.DataFrame:
    """Every non-blank line of every `*.jsonl` file in `events_dir` (or only the files whose stem is
    in `days`) as one `karma_events` row, re-deliveries marked; `shared`: the values already read."""
    return combine_event_days(list(read_event_files(events_dir, days, shared).values()))


def read_event_files(
    events_dir: Path, days: list[str] | None = None, shared: SharedValues | None = None
) -> dict[str, pd.DataFrame]:
    """File stem -> its lines as `karma_events` rows (re-deliveries not marked yet: `combine_event_days`
    marks them across files), in file order, for every file (or those whose stem is in `days`). Each
    file's rows become columns before the next file is read, so the text of one file at a time is held
    as Python objects; `shared`: the values already read (by earlier calls)."""
    shared = SharedValues() if shared is None else shared
    with without_cyclic_gc():
        return {path.stem: read_event_file(path, shared) for path in event_files(events_dir, days)}


def event_files(events_dir: Path, days: list[str] | None = None) -> list[Path]:
    """The event files (every `*.jsonl` entry, or those whose stem is in `days`), in file order."""
    files = _event_files(events_dir)
    if days is not None:
        wanted = set(days)
        files = [f for f in files if f.stem in wanted]
    return files


_NAMES = ("record_id", "source_file", "line_no", "raw", *_PARSED, "ts_is_text")
_DTYPES = {c.name: c.dtype for c in KARMA_EVENTS.columns}


def read_event_file(path: Path, shared: SharedValues, only: set[int] | None = None) -> pd.DataFrame:
    """One event file's lines as `karma_events` rows (an unreadable entry: one row saying why); with
    `only`, just the lines of those numbers (from 1)."""
    name = path.name
    reason = unreadable(path)
    if reason is not None and only is not None:
        rows: list[tuple[Any, ...]] = []
    elif reason is not None:
        rows = [(f"{name}:0", name, 0, "", reason, *_UNPARSED, False)]
    else:
        rows = []
        for number, (line, decode_error) in enumerate(_file_lines(path), start=1):
            if only is not None and number not in only:
                continue
            line = line.removesuffix("\r")
            if line.strip(_JSON_SPACE):  # a line of other white space (form feed, NBSP, …) is a row
                parsed = _parse_line(line, decode_error, may_hold_secret(line), shared)
                rows.append((f"{name}:{number}", name, number, *parsed))
    if not rows:
        return KARMA_EVENTS.empty()  # only blank lines
    columns = dict(zip(_NAMES, zip(*rows, strict=True), strict=True))
    del rows
    frame = pd.DataFrame(
        {name: pd.Series(col, dtype=_DTYPES.get(name, "object")) for name, col in columns.items()}
    )
    del columns
    frame["ts"] = _parse_ts(frame["ts_raw"], frame["ts_is_text"].to_numpy(dtype=bool))
    for mark in ("duplicate_of", "conflicts_with"):
        frame[mark] = pd.Series(pd.NA, index=frame.index, dtype=_DTYPES[mark])
    return KARMA_EVENTS.conform(frame)


def _parse_ts(ts_raw: pd.Series, is_text: np.ndarray) -> pd.Series:
    """UTC timestamps for the ISO 8601 strings; null for anything else (numbers, junk, missing)."""
    text = ts_raw.where(is_text).astype("string")
    ok = text.str.match(_TS_SHAPE).fillna(False).to_numpy(dtype=bool)
    parsed = pd.Series(pd.NaT, index=ts_raw.index, dtype=_TS_DTYPE)
    if ok.any():
        values = pd.to_datetime(text[ok], format="ISO8601", utc=True, errors="coerce")
        # Outside pandas' nanosecond range (years 0001, 3000, 9999, …): null, as if unparseable.
        values = values.where((values >= _TS_MIN) & (values <= _TS_MAX))
        parsed[ok] = values.astype(_TS_DTYPE)
    return parsed


def read_world_components(world_dir: Path) -> set[str]:
    """Component keys `<type>/<nickname>` of the world, from `configs/iac/<env>/<type>/<nick>/`."""
    iac = Path(world_dir) / "configs" / "iac"
    if not iac.is_dir():
        raise WorldNotFound(f"component configs folder not found: {iac}")
    components = {f"{path.parent.parent.name}/{path.parent.name}" for path in iac.glob("*/*/*/config.json")}
    if not components:
        raise WorldNotFound(f"no component configs (<env>/<type>/<nickname>/config.json) in {iac}")
    return components
