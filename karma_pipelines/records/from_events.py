"""Build `deploy_records` and `config_snapshots` from validated Karma events."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

from karma_pipelines import parallel
from karma_pipelines.contracts.config_diff import config_lines, diff_flat
from karma_pipelines.contracts.config_fields import compact_json, config_hash, flatten
from karma_pipelines.contracts.dependencies import references
from karma_pipelines.contracts.schema import (
    CONFIG_SNAPSHOTS,
    DEPLOY_EVENT_TYPES,
    DEPLOY_RECORDS,
    Table,
    column_isin,
    column_values,
)
from karma_pipelines.records.labels import DEFAULT_HORIZON, apply_rollback_labels

PARALLEL_DEPLOYS = 20_000  # below this many deploys the tables are built here: a fork would cost more


def deploy_tables_from_events(
    events: pd.DataFrame,
    horizon: pd.Timedelta = DEFAULT_HORIZON,
    as_of: pd.Timestamp | None = None,
    workers: int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(deploy_records, config_snapshots) from clean `karma_events` rows.

    Each component's deploys are diffed against its previous config in time order. The change
    request's text (`change.requested` with the same correlation id) becomes the message. Components
    are independent, so from `PARALLEL_DEPLOYS` deploys on they are shared out among forked workers
    (`workers`, default `parallel.default_workers()`; `fork_map`), each building the rows of its
    components, and the rows are put back in time order: the same tables as one process builds.
    """
    rows = _deploys_in_time_order(events)
    requests = events[events["event_type"] == "change.requested"]
    request_text = requests["attrs"].map(lambda a: a.get("message", ""))
    messages = dict(zip(requests["correlation_id"], request_text, strict=True))
    del requests, request_text
    if workers is None:
        workers = parallel.default_workers() if len(rows) >= PARALLEL_DEPLOYS else 1
    share = pd.factorize(events["entity_id"].take(rows))[0] % max(1, workers)
    positions = [np.flatnonzero(share == k) for k in range(max(1, workers))]
    columns = [events.columns.get_loc(c) for c in (*EVENT_COLUMNS, "record_id")]
    work = lambda k: _rows(events.iloc[rows[positions[k]], columns], messages)  # noqa: E731
    built = [built for built in parallel.fork_map(work, len(positions), workers) if built[0] is not None]
    if not built:
        return DEPLOY_RECORDS.empty(), CONFIG_SNAPSHOTS.empty()
    order = np.argsort(np.concatenate(positions), kind="stable")  # each row's place in time order
    parts = {"records": [r for r, _ in built], "snapshots": [s for _, s in built]}
    del built

    def in_time_order(frames: list[pd.DataFrame]) -> pd.DataFrame:
        """The workers' rows in time order; each part let go once joined (one copy of a table at a time)."""
        if len(frames) == 1:  # one worker's rows: in time order already
            return frames.pop()
        joined = pd.concat(frames, ignore_index=True)
        frames.clear()
        joined = joined.take(order)
        joined.index = pd.RangeIndex(len(joined))  # (not `reset_index`: a copy)
        return joined

    records = in_time_order(parts["records"])
    snapshots = in_time_order(parts["snapshots"])
    records = apply_rollback_labels(records, horizon=horizon, as_of=as_of)
    return DEPLOY_RECORDS.conform(records), CONFIG_SNAPSHOTS.conform(snapshots)


def _deploys_in_time_order(events: pd.DataFrame) -> np.ndarray:
    """The positions of the deploy events among `events`, by time (`ts`, then `record_id`; stable): found
    from those two columns, so no copy of the events is made."""
    wanted = np.flatnonzero(column_isin(events["event_type"], set(DEPLOY_EVENT_TYPES)))
    keys = pd.DataFrame({name: events[name].array.take(wanted) for name in ("ts", "record_id")})
    return wanted[keys.sort_values(["ts", "record_id"], kind="stable").index.to_numpy()]


def _rows(deploy_events: pd.DataFrame, messages: dict) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """The deploy records and config snapshots of `deploy_events` (whole components, in time order)."""
    # Each component's previous config as `diff_flat` reads it (flattened, its lines): made once per config.
    previous: dict[str, tuple[dict, list[str]]] = {}
    none: tuple[dict, list[str]] = ({}, [])
    # Column by column: a row's dict is let go at once (a million of them would be gigabytes).
    deploys, snapshots = _Blocks(DEPLOY_RECORDS), _Blocks(CONFIG_SNAPSHOTS)
    for attrs, component, event_type, key, tags, ts, source, correlation_id in zip(
        *(column_values(deploy_events[c]) for c in EVENT_COLUMNS), strict=True
    ):
        ctype, _, nickname = component.partition("/")
        config = attrs.get("config") or {}
        text = compact_json(config)
        flat, lines = flatten(config), config_lines(config, text)
        old_flat, old_lines = previous.get(component, none)
        diff = diff_flat(old_flat, flat, old_lines, lines)
        is_rollback = event_type == "deploy.rollback"
        deploy_id = attrs.get("deploy_id") or key
        environment = attrs.get("environment") or (tags or {}).get("Environment", "default")
        deploys.append(
            {
                "deploy_id": deploy_id,
                "deployed_at": ts,
                "component": component,
                "component_type": ctype,
                "nickname": nickname,
                "environment": environment,
                "author": attrs.get("user") or "unknown",
                "action": "rollback" if is_rollback else attrs.get("action", "update"),
                "source": source or "unknown",
                "change_id": attrs.get("change_id") or correlation_id or deploy_id,
                "message": messages.get(correlation_id, "") or attrs.get("reason", ""),
                **diff.columns(),
                "outcome": attrs.get("status", "succeeded"),
                "is_rollback": is_rollback,
                "rolls_back": attrs.get("rolls_back") if is_rollback else None,
            },
        )
        snapshots.append(snapshot_row(deploy_id, ts, component, environment, config, flat, text))
        previous[component] = (flat, lines)
    return deploys.frame(), snapshots.frame()


# The `karma_events` columns read here (and `record_id`, the order of events at the same time).
EVENT_COLUMNS = (
    "attrs", "entity_id", "event_type", "idempotency_key", "tags", "ts", "source", "correlation_id"
)  # fmt: skip


def deploy_inputs(events: pd.DataFrame) -> pd.DataFrame:
    """The rows and columns of `karma_events` that `deploy_tables_from_events` reads (deploys and change
    requests; `EVENT_COLUMNS` and `record_id`): what a caller that needs no more of the events keeps."""
    wanted = events["event_type"].isin([*DEPLOY_EVENT_TYPES, "change.requested"])
    out = events.loc[wanted, [*EVENT_COLUMNS, "record_id"]]
    # Of a change request only its text is read: the rest of its attrs (the proposed change) goes now.
    requests = (out["event_type"] == "change.requested").to_numpy()
    if requests.any():
        attrs = out["attrs"].to_numpy(dtype=object, copy=True)
        attrs[requests] = [{"message": a.get("message", "")} for a in attrs[requests]]
        out["attrs"] = attrs
    return out


class _Blocks:
    """A table built row by row, kept as one list per column for `BLOCK` rows at a time; each full block
    becomes a frame of the table's dtypes (strings in Arrow buffers, not a Python object per cell), so a
    million rows are never a million dicts' worth of Python objects."""

    BLOCK = 1 << 16

    def __init__(self, table: Table) -> None:
        self._dtypes = {c.name: c.dtype for c in table.columns}
        self._columns: dict[str, list] = {}
        self._frames: list[pd.DataFrame] = []
        self._rows = 0

    def append(self, row: dict) -> None:
        """Add `row` (every row has the first row's keys)."""
        columns = self._columns
        if not columns:
            columns.update((key, []) for key in row)
        for key, value in row.items():
            columns[key].append(value)
        self._rows += 1
        if self._rows == self.BLOCK:
            self._flush()

    def _flush(self) -> None:
        if self._rows:
            typed = {k: pd.Series(v, dtype=self._dtypes.get(k, "object")) for k, v in self._columns.items()}
            self._frames.append(pd.DataFrame(typed))
            self._columns.clear()
            self._rows = 0

    def frame(self) -> pd.DataFrame | None:
        """Every row appended, as one frame (None when there is none)."""
        self._flush()
        if not self._frames:
            return None
        frame = pd.concat(self._frames, ignore_index=True) if len(self._frames) > 1 else self._frames[0]
        self._frames = []
        return frame


def snapshot_row(
    deploy_id: str,
    ts,
    component: str,
    environment: str,
    config: dict,
    flat: dict | None = None,
    text: str | None = None,
    text_hash: str | None = None,
) -> dict:
    """One `config_snapshots` row of a config its source redacted where it read it (both sources do);
    `flat`, `text` and `text_hash`: the config's `flatten`, `compact_json` and `config_hash`, when the
    caller has them already."""
    flat = flatten(config) if flat is None else flat
    # Interned: every snapshot of a component lists the same paths, each made anew by `flatten`.
    paths = sorted(map(sys.intern, flat))
    text = compact_json(config) if text is None else text
    return {
        "deploy_id": deploy_id,
        "captured_at": ts,
        "component": component,
        "component_type": component.partition("/")[0],
        "environment": environment,
        "config_hash": config_hash(config, text) if text_hash is None else text_hash,
        "config_json": text,
        "field_paths": paths,
        "n_fields": len(paths),
        "references": references(config, flat),
    }
