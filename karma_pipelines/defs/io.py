"""The IO manager: pickles under a folder, one file per asset partition, so that a single-run backfill
of many partitions (one output holding a dict partition -> value) works, and an unpartitioned asset
reads all its upstream partitions as a dict."""

import os
import pickle
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
        values = {}
        for partition in context.asset_partition_keys:
            path = self._path(key, partition)
            if path.exists():
                values[partition] = pickle.loads(path.read_bytes())
            else:
                context.log.warning(f"{key.to_user_string()}: partition {partition} not materialized yet")
        return values
