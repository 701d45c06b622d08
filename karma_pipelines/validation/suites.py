"""The expectation suites in `assets/expectations/*.json`: loading, their columns and parameters.

The files are GX 1.x `ExpectationSuite` JSON, reviewed by hand; this module reads them as plain JSON
(no GX import) so that parameters can be checked before the GX import (3-6 s) is paid.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from karma_pipelines.contracts import package_data
from karma_pipelines.contracts.schema import ENVIRONMENTS, EVENT_TYPES

SUITES_DIR = package_data.suites_dir()  # the installed package's, or the checkout's assets/expectations


class MissingSuiteParameter(ValueError):
    """A suite refers to `{"$PARAMETER": name}` and the caller gave no value for it."""


@dataclass(frozen=True)
class Suite:
    """One suite file: its name, where it came from, and its expectations as written."""

    name: str
    path: Path
    expectations: tuple[dict[str, Any], ...]

    @property
    def columns(self) -> list[str]:
        """The columns the suite looks at, in first-use order."""
        return list(dict.fromkeys(e["kwargs"]["column"] for e in self.expectations))

    @property
    def parameters(self) -> list[str]:
        """Names of the suite parameters the expectations refer to, sorted."""
        return sorted({name for e in self.expectations for name in _parameter_names(e["kwargs"])})

    def reason(self, index: int) -> str:
        """The quarantine reason for expectation `index`: `expectation_type(column)`."""
        exp = self.expectations[index]
        return f"{exp['type']}({exp['kwargs']['column']})"

    def check_parameters(self, parameters: dict[str, Any]) -> None:
        """Raise MissingSuiteParameter naming the suite and every parameter it lacks (or got None)."""
        missing = [p for p in self.parameters if parameters.get(p) is None]
        if missing:
            given = ", ".join(sorted(parameters)) or "none"
            raise MissingSuiteParameter(
                f"suite {self.name!r} ({self.path}) needs suite parameter(s) "
                f"{', '.join(repr(m) for m in missing)}; given: {given}"
            )


def _parameter_names(value: Any) -> list[str]:
    if isinstance(value, dict):
        if set(value) == {"$PARAMETER"}:
            return [value["$PARAMETER"]]
        return [n for v in value.values() for n in _parameter_names(v)]
    if isinstance(value, list):
        return [n for v in value for n in _parameter_names(v)]
    return []


def load_suite(name: str, suites_dir: Path | None = None) -> Suite:
    """Read `<suites_dir>/<name>.json`; every expectation must be about one column (row-level)."""
    path = package_data.suite_path(name) if suites_dir is None else Path(suites_dir) / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"expectation suite {name!r} not found: {path}")
    document = json.loads(path.read_text())
    if document.get("name") != name:
        raise ValueError(f"{path}: suite name is {document.get('name')!r}, expected {name!r}")
    expectations = tuple(document.get("expectations") or [])
    if not expectations:
        raise ValueError(f"{path}: the suite has no expectations")
    for i, exp in enumerate(expectations):
        column = exp.get("kwargs", {}).get("column")
        if not isinstance(exp.get("type"), str) or not isinstance(column, str):
            # Quarantine needs the failing rows; only column expectations give them.
            raise ValueError(f"{path}: expectation {i} needs a `type` and a `kwargs.column`: {exp}")
    return Suite(name=name, path=path, expectations=expectations)


def standard_parameters(
    known_components: Iterable[str],
    min_ts: Any,
    max_ts: Any,
    event_types: Iterable[str] = EVENT_TYPES,
    environments: Iterable[str] = ENVIRONMENTS,
) -> dict[str, Any]:
    """The parameters every suite may use, with the contract's event types and environments."""
    return {
        "known_components": sorted(known_components),
        "min_ts": min_ts,
        "max_ts": max_ts,
        "event_types": list(event_types),
        "environments": list(environments),
    }
