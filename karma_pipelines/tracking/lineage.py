"""What a model version was made from: the source it learnt from (a champion serves one source) and a
fingerprint of its data and code (re-running on unchanged input registers nothing new).

- `karma.source` on a version: `<kind>:<resolved path>` of the source; the per-source champion alias
  is `champion-<kind>-<hash>` of it, and `champion` itself serves the source of the version it points to.
- `karma.fingerprint`: SHA-256 of the spec's parameters, the code version (the package's and the
  asset's), the source and the training and test rows (features, target, ids) as pandas hashes them.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from pathlib import Path

import pandas as pd

SOURCE_TAG = "karma.source"
FINGERPRINT_TAG = "karma.fingerprint"


def source_key(tags: dict[str, str], dataset_source: str) -> str:
    """`<kind>:<resolved path>` of the source a model learnt from."""
    kind = tags.get("source.kind") or "source"
    path = Path(dataset_source)
    return f"{kind}:{path.resolve() if path.exists() else dataset_source}"


def source_alias(key: str) -> str:
    """The champion alias of one source (MLflow aliases take letters, digits, `_` and `-`)."""
    kind = "".join(c if c.isalnum() else "-" for c in key.split(":", 1)[0])
    return f"champion-{kind}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def fingerprint(
    params: dict[str, str], tags: dict[str, str], key: str, frames: list[pd.DataFrame], columns: list[str]
) -> str:
    """The data and code a version would be made from, as one hex digest."""
    digest = hashlib.sha256()
    try:
        package = importlib.metadata.version("karma-pipelines")
    except importlib.metadata.PackageNotFoundError:
        package = "checkout"
    code = {"package": package, "asset": tags.get("dagster.code_version", ""), "source": key}
    digest.update(json.dumps({"params": params, **code}, sort_keys=True).encode())
    for frame in frames:
        shown = frame[[c for c in columns if c in frame.columns]]
        shown = shown.apply(lambda col: col.astype(str) if col.dtype == object else col)
        digest.update(json.dumps(list(shown.columns)).encode())
        digest.update(pd.util.hash_pandas_object(shown, index=False).to_numpy().tobytes())
    return digest.hexdigest()
