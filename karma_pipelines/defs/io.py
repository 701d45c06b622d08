"""The IO manager: pickles under a folder, one file per asset partition, so that a single-run backfill
of many partitions (one output holding a dict partition -> value) works, and an unpartitioned asset
reads all its upstream partitions as a dict."""

import os
import pickle
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg


class PartitionedPickleIOManager(dg.ConfigurableIOManager):
    """Values under `<base_dir>/<asset path>[/<partition>].pkl`."""

    base_dir: str = ""

    def _root(self) -> Path:
        if self.base_dir:
            return Path(self.base_dir)
        home = os.environ.get("DAGSTER_HOME")
        return Path(home, "storage") if home else Path(".karma", "dagster", "storage")

    def _path(self, key: dg.AssetKey, partition: str | None = None) -> Path:
        path = self._root().joinpath(*key.path)
        return path / f"{partition}.pkl" if partition is not None else path.with_suffix(".pkl")

    def _write(self, path: Path, value: Any) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        tmp.replace(path)  # a reader never sees half a file

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if obj is None:
            return
        if not context.has_asset_partitions:
            self._write(self._path(context.asset_key), obj)
            return
        keys = context.asset_partition_keys
        if len(keys) == 1 and not (isinstance(obj, dict) and set(obj) == set(keys)):
            obj = {keys[0]: obj}
        missing = set(keys) - set(obj)
        if missing:
            name = context.asset_key.to_user_string()
            raise ValueError(f"{name}: no value for partitions {sorted(missing)}")
        for key in keys:
            self._write(self._path(context.asset_key, key), obj[key])

    def load_input(self, context: dg.InputContext) -> Any:
        key = context.asset_key
        if not context.has_asset_partitions:
            return pickle.loads(self._path(key).read_bytes())
        paths = {}
        for partition in context.asset_partition_keys:
            path = self._path(key, partition)
            if path.exists():
                paths[partition] = path
            else:
                context.log.warning(f"{key.to_user_string()}: partition {partition} not materialized yet")
        return StoredPartitions(paths)

    def load_asset_value(self, key: dg.AssetKey) -> Any | None:
        """The stored value of an unpartitioned asset (None when there is none): how an asset reads its
        own previous materialization (see `defs/previous.py`)."""
        path = self._path(key)
        return pickle.loads(path.read_bytes()) if path.exists() else None


class StoredPartitions(Mapping):
    """Partition -> value, each read from its file when first asked for: a consumer that needs only the
    new partitions (an incremental update) never reads the others."""

    def __init__(self, paths: dict[str, Path]):
        self._paths = paths
        self._values: dict[str, Any] = {}

    def __getitem__(self, partition: str) -> Any:
        if partition not in self._values:
            self._values[partition] = pickle.loads(self._paths[partition].read_bytes())
        return self._values[partition]

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)
