"""An asset's own previous materialization, for assets that extend it instead of rebuilding (the
incremental update a sensor run makes): read through the IO manager, and only when it was made by the
same code version (a code change rebuilds from scratch)."""

from __future__ import annotations

from typing import Any

import dagster as dg

CODE_VERSION_TAG = "dagster/code_version"
# The type of an asset's `io_manager` parameter: whatever IO manager the definitions configure.
IoManager = dg.ResourceParam[Any]


def previous_materialization(instance: dg.DagsterInstance, key: dg.AssetKey) -> dg.EventLogRecord | None:
    """The latest materialization record of `key` (None: never materialized)."""
    records = instance.fetch_materializations(key, limit=1).records
    return records[0] if records else None


def previous_value(
    context: dg.AssetExecutionContext, io_manager: Any, key: dg.AssetKey, code_version: str
) -> Any | None:
    """The value of `key`'s latest materialization when it was made by `code_version` and its IO
    manager (the `io_manager` resource, an asset's `IoManager` parameter) still has it; None otherwise
    (rebuild)."""
    record = previous_materialization(context.instance, key)
    if record is None:
        return None
    tags = record.asset_materialization.tags or {}
    if tags.get(CODE_VERSION_TAG) not in (None, code_version):
        context.log.info(f"{key.to_user_string()}: code version changed, rebuilt from scratch")
        return None
    if not hasattr(io_manager, "load_asset_value"):
        return None  # another IO manager: no incremental update
    return io_manager.load_asset_value(key)


def materialized_since(
    instance: dg.DagsterInstance, key: dg.AssetKey, since: dg.EventLogRecord | None
) -> set[str]:
    """Partitions of `key` materialized after the record `since` (every materialized one when None)."""
    after = since.storage_id if since is not None else None
    keys: set[str] = set()
    cursor = None
    while True:
        result = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, after_storage_id=after), limit=1000, cursor=cursor
        )
        keys.update(r.partition_key for r in result.records if r.partition_key is not None)
        if not result.has_more:
            return keys
        cursor = result.cursor


def metadata_value(record: dg.EventLogRecord | None, name: str) -> Any | None:
    """A metadata entry's plain value of a materialization record (None when absent)."""
    if record is None:
        return None
    entry = record.asset_materialization.metadata.get(name)
    return entry.value if entry is not None else None
