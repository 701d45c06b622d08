"""Build `deploy_records` and `config_snapshots` from validated Karma events."""

from __future__ import annotations

import sys
import tempfile
from functools import partial
from pathlib import Path

import numpy as np
import orjson
import pandas as pd

from karma_pipelines import parallel
from karma_pipelines.contracts.config_diff import config_lines, diff_flat
from karma_pipelines.contracts.config_fields import compact_json, config_hash, flatten
from karma_pipelines.contracts.dependencies import references
from karma_pipelines.contracts.schema import (
    CONFIG_SNAPSHOTS,
    DEPLOY_EVENT_TYPES,
    DEPLOY_RECORDS,
    column_isin,
    column_values,
)
from karma_pipelines.memory import release_freed_memory
from karma_pipelines.records.blocks import Blocks, read_block
from karma_pipelines.records.labels import DEFAULT_HORIZON, apply_rollback_labels

PARALLEL_DEPLOYS = 20_000  # below this many deploys the tables are built here: a fork would cost more


def deploy_tables_from_events(
    events: pd.DataFrame,
    horizon: pd.Timedelta = DEFAULT_HORIZON,
    as_of: pd.Timestamp | None = None,
    workers: int | None = None,
    consume: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(deploy_records, config_snapshots) from clean `karma_events` rows, or their `deploy_inputs`.

    Each component's deploys are diffed against its previous config in time order. The change
    request's text (`change.requested` with the same correlation id) becomes the message. Components
    are independent, so from `PARALLEL_DEPLOYS` deploys on they are shared out among forked workers
    (`workers`, default `parallel.default_workers()`; `fork_map`), each building the rows of its
    components, and the rows are put back in time order: the same tables as one process builds.
    `consume` (given `deploy_inputs` no one reads after): they are emptied once the workers are forked,
    so this process does not hold them while the workers' rows come back.
    """
    if "attrs" in events.columns:  # `karma_events` rows: the columns read here, made once
        events, consume = deploy_inputs(events), True
    rows = _deploys_in_time_order(events)
    requests = (events["event_type"] == "change.requested").to_numpy()
    messages = dict(
        zip(column_values(events["correlation_id"][requests]), events["message"][requests], strict=True)
    )
    del requests
    if workers is None:
        workers = parallel.default_workers() if len(rows) >= PARALLEL_DEPLOYS else 1
    share = pd.factorize(events["entity_id"].take(rows))[0] % max(1, workers)
    positions = [np.flatnonzero(share == k) for k in range(max(1, workers))]
    with tempfile.TemporaryDirectory(prefix="karma-deploy-rows-") as spool:
        # A worker writes each block of its rows to a file as it is made: neither it nor this process
        # holds a worker's rows whole, nor their pickled copy.
        at = (lambda k: Path(spool) / str(k)) if workers > 1 else (lambda k: None)
        work = lambda k: _rows(events.iloc[rows[positions[k]]], messages, at(k))  # noqa: E731
        # Consumed: once the workers have their copy, the inputs are let go here, before their rows come.
        forked = partial(_let_go, events) if consume else None
        built = parallel.fork_map(work, len(positions), workers, forked=forked)
        built = [part for part in built if part[0]]
        if not built:
            return DEPLOY_RECORDS.empty(), CONFIG_SNAPSHOTS.empty()
        # Each row's place in time order (one worker's rows are in time order already).
        order = np.argsort(np.concatenate(positions), kind="stable") if len(built) > 1 else None
        parts = {
            name: [read_block(b) for part in built for b in part[i]]
            for i, name in enumerate(("records", "snapshots"))
        }
        del built

    def in_time_order(frames: list[pd.DataFrame]) -> pd.DataFrame:
        """The workers' blocks of rows in time order, put together a column at a time, each column of
        the blocks let go once joined (one copy of a column at a time, not of a table)."""
        if len(frames) == 1:
            return frames.pop()
        columns = {}
        for name in list(frames[0].columns):
            joined = pd.concat([frame.pop(name) for frame in frames], ignore_index=True)
            if order is not None:
                joined = joined.take(order).set_axis(pd.RangeIndex(len(joined)), copy=False)
            columns[name] = joined
            del joined
        frames.clear()
        return pd.DataFrame(columns, copy=False)

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


def _let_go(inputs: pd.DataFrame) -> None:
    """Empty `inputs` in place (its caller's reference too) and give the freed heap back to the system."""
    inputs.drop(columns=list(inputs.columns), inplace=True)
    release_freed_memory()


def _rows(inputs: pd.DataFrame, messages: dict, spool: Path | None = None) -> tuple[list, list]:
    """The deploy records and config snapshots of the `deploy_inputs` rows `inputs` (deploys of whole
    components, in time order), each in blocks of rows (`Blocks`, written to files under `spool` when
    given: joined once, by the caller)."""
    # Each component's previous config as `diff_flat` reads it (flattened, its lines): made once per config.
    previous: dict[str, tuple[dict, list[str]]] = {}
    none: tuple[dict, list[str]] = ({}, [])
    # Column by column: a row's dict is let go at once (a million of them would be gigabytes).
    deploys, snapshots = Blocks(DEPLOY_RECORDS, spool), Blocks(CONFIG_SNAPSHOTS, spool)
    for (
        component, event_type, key, ts, source, correlation_id, encoded, deploy_id, environment, user,
        action, change_id, reason, status, rolls_back, tag_environment,
    ) in zip(*(column_values(inputs[c]) for c in _READ), strict=True):  # fmt: skip
        ctype, _, nickname = component.partition("/")
        config = orjson.loads(encoded) if type(encoded) is bytes else encoded
        text = compact_json(config)
        flat, lines = flatten(config), config_lines(config, text)
        old_flat, old_lines = previous.get(component, none)
        diff = diff_flat(old_flat, flat, old_lines, lines)
        is_rollback = event_type == "deploy.rollback"
        deploy_id = deploy_id or key
        environment = environment or tag_environment
        deploys.append(
            {
                "deploy_id": deploy_id,
                "deployed_at": ts,
                "component": component,
                "component_type": ctype,
                "nickname": nickname,
                "environment": environment,
                "author": user or "unknown",
                "action": "rollback" if is_rollback else action,
                "source": source or "unknown",
                "change_id": change_id or correlation_id or deploy_id,
                "message": messages.get(correlation_id, "") or reason,
                **diff.columns(),
                "outcome": status,
                "is_rollback": is_rollback,
                "rolls_back": rolls_back if is_rollback else None,
            },
        )
        snapshots.append(snapshot_row(deploy_id, ts, component, environment, config, flat, text))
        previous[component] = (flat, lines)
    return deploys.frames(), snapshots.frames()


# What `deploy_inputs` keeps of the events' own columns, and what it reads of their `attrs` (each its own
# column, holding `attrs.get(name, default)`) and `tags`.
EVENT_COLUMNS = ("record_id", "ts", "entity_id", "event_type", "idempotency_key", "source", "correlation_id")
ATTRS_READ = {
    "deploy_id": None, "environment": None, "user": None, "action": "update", "change_id": None,
    "reason": "", "status": "succeeded", "rolls_back": None, "message": "",
}  # fmt: skip
# The columns `_rows` reads, in its order.
_READ = (
    "entity_id", "event_type", "idempotency_key", "ts", "source", "correlation_id", "config",
    *(name for name in ATTRS_READ if name != "message"), "tag_environment",
)  # fmt: skip


def deploy_inputs(events: pd.DataFrame) -> pd.DataFrame:
    """What `deploy_tables_from_events` reads of `karma_events`: its deploys and change requests, with
    `EVENT_COLUMNS`, each attr it reads as a column (`ATTRS_READ`; of a change request only its
    `message`), the tags' `Environment` (`tag_environment`, default "default"), and the config (`attrs`'
    `config`, `{}` when empty) as its `encoded_config`. A caller that needs no more of the events keeps
    this: a million deploys' attrs and configs as Python objects are several gigabytes, this about a
    third of that."""
    wanted = column_isin(events["event_type"], {*DEPLOY_EVENT_TYPES, "change.requested"})
    out = events.loc[wanted, list(EVENT_COLUMNS)]
    requests = (out["event_type"] == "change.requested").tolist()
    attrs, tags = (column_values(events[name][wanted]) for name in ("attrs", "tags"))
    values: dict[str, list] = {name: [] for name in (*ATTRS_READ, "tag_environment", "config")}
    same: dict = {}  # equal configs one object
    for a, t, request in zip(attrs, tags, requests, strict=True):
        for name, default in ATTRS_READ.items():
            values[name].append(a.get(name, default) if (name == "message") == request else None)
        values["tag_environment"].append(None if request else (t or {}).get("Environment", "default"))
        values["config"].append(None if request else encoded_config(a.get("config") or {}, same))
    del attrs, tags, same
    for name, column in values.items():
        out[name] = pd.Series(column, index=out.index, dtype=object)
    return out


def encoded_config(config, same: dict | None = None):
    """`config` as its orjson bytes, which `orjson.loads` makes into an equal config with its keys in the
    same order (`same`: bytes met before, to give the object met first); the config itself where no
    bytes decode to it (a NaN or an infinity, which orjson writes as `null`; an integer past 64 bits, a
    lone surrogate: which it refuses)."""
    try:
        data = orjson.dumps(config)
    except TypeError:  # orjson.JSONEncodeError
        return config
    if b"null" in data and orjson.loads(data) != config:
        return config
    return data if same is None else same.setdefault(data, data)


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
