"""Checks on the command line's inputs, run by argparse (`type=`) before any work starts: a bad value
exits 2 with `argument --flag: <why>`. Plus `finite_json`, which keeps `--json` output valid JSON."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any


def probability(text: str) -> float:
    """A finite number in [0, 1] (`score --fail-above`)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a risk in [0, 1]")
    return value


def count(text: str) -> int:
    """An integer >= 1 (`suggest --top`)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive integer (1 or more)")
    return value


def port(text: str) -> int:
    """A TCP port, 1..65535 (`ui --dagster-port`, `--mlflow-port`)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port in 1..65535")
    return value


def folder(text: str) -> str:
    """A folder that exists (`suggest --iac`)."""
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text}: no such folder")
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: not a folder")
    return text


def home_dir(text: str) -> str:
    """A store folder: it may not exist yet (it is created), but it must not be a file (`--home`)."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: exists and is not a folder")
    return text


HOME = {"type": home_dir, "default": ".karma"}  # the keyword arguments of every `--home`


def layout_pattern(text: str) -> str:
    """A layout, or several separated by `;` (each must compile: `Layouts`)."""
    from karma_pipelines.sources.git.layout import Layouts

    try:
        Layouts.of(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


class _AppendLayout(argparse.Action):
    """`--layout` given several times: every value, in order (the default only when none is given)."""

    def __call__(self, parser, namespace, values, option_string=None):
        current = getattr(namespace, self.dest)
        setattr(namespace, self.dest, [*([] if current is self.default else current), values])


def layout_argument(default: str) -> dict[str, Any]:
    """The keyword arguments of every `--layout`: repeatable, first match wins; the value is a list."""
    return {
        "action": _AppendLayout,
        "type": layout_pattern,
        "default": [default],
        "metavar": "PATTERN",
        "help": f"how config paths map to components (default {default!r}); give it several times (or "
        "separate patterns by ';') for several layouts: a file belongs to the first that matches",
    }


def output_file(text: str) -> str:
    """A file to write: not a folder, in a folder that exists (`backtest --predictions`)."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: is a folder, not a file")
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: folder {str(path.parent)!r} does not exist")
    return text


def json_text(value: Any) -> str:
    """One JSON document, with `null` for non-finite floats (never the invalid `NaN`)."""
    return json.dumps(finite_json(value), default=str, allow_nan=False)


def finite_json(value: Any) -> Any:
    """`value` with every NaN or infinite float (in dicts, lists and tuples) replaced by None, so that
    `json.dumps(..., allow_nan=False)` prints `null` instead of the invalid `NaN`/`Infinity`."""
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_json(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if type(value).__module__ == "numpy":  # numpy scalars that are not float subclasses (np.float32)
        import numpy as np

        if isinstance(value, np.floating) and not np.isfinite(value):
            return None
    return value
