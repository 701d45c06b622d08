"""Where the package's data files are: the expectation suites, the model specs, the Dagster instance
settings and workspace.

The reviewable inputs live at the repository's top (`assets/expectations/*.json`, `models/*.yaml`); the
wheel carries them as `karma_pipelines/_data/{expectations,models}` (hatch `force-include` in
pyproject.toml). An installed package finds them there; a checkout (also an editable install) at the top.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

# package-data folder name -> the folder of the checkout it comes from (relative to the repository top)
_CHECKOUT_DIRS = {"expectations": Path("assets") / "expectations", "models": Path("models")}


def data_dir(kind: str) -> Path:
    """The folder of one kind of data file ('expectations' or 'models'): in the installed package if it
    carries it, else at the top of the checkout this package is imported from."""
    if kind not in _CHECKOUT_DIRS:
        raise ValueError(f"unknown package data {kind!r}; one of {sorted(_CHECKOUT_DIRS)}")
    installed = files("karma_pipelines") / "_data" / kind
    if installed.is_dir():
        return Path(str(installed))
    top = Path(__file__).resolve().parents[2]  # karma_pipelines/contracts/ -> the checkout
    checkout = top / _CHECKOUT_DIRS[kind]
    if (top / "pyproject.toml").is_file() and checkout.is_dir():
        return checkout
    raise FileNotFoundError(
        f"package data {kind!r} not found: neither {installed} (installed wheel) nor {checkout} (checkout)"
    )


def _top_file(name: str, what: str) -> Path:
    """A file of the repository's top that the wheel carries as `_data/<name>`: the installed package's,
    else the checkout's."""
    installed = files("karma_pipelines") / "_data" / name
    if installed.is_file():
        return Path(str(installed))
    top = Path(__file__).resolve().parents[2] / name
    if top.is_file():
        return top
    raise FileNotFoundError(f"{what} {name} not found: neither {installed} (wheel) nor {top} (checkout)")


def instance_settings_file() -> Path:
    """The Dagster instance settings (`dagster.yaml`): in the installed package, else the checkout's."""
    return _top_file("dagster.yaml", "the Dagster instance settings")


def workspace_file() -> Path:
    """The Dagster workspace (`workspace.yaml`, the code location `make ui` loads and `run`'s runs
    belong to): in the installed package, else the checkout's."""
    return _top_file("workspace.yaml", "the Dagster workspace")


def suites_dir() -> Path:
    """The folder of the Great Expectations suites (`<name>.json`)."""
    return data_dir("expectations")


def models_dir() -> Path:
    """The folder of the model specs (`<name>.yaml`)."""
    return data_dir("models")


def suite_path(name: str) -> Path:
    """The file of expectation suite `name` (it may not exist: the caller reports a missing suite)."""
    return suites_dir() / f"{name}.json"


def spec_path(name: str) -> Path:
    """The file of model spec `name` (it may not exist: the caller reports a missing spec)."""
    return models_dir() / f"{name}.yaml"
