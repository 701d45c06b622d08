"""Running one suite with Great Expectations 1.x on a pandas frame; GX is imported only here, lazily.

Failing rows are identified by their position, carried as the frame's named index `ROW` and asked for
with `unexpected_index_column_names=[ROW]`. Not by the table key: a key can be null or duplicated (the
very rows quarantine is for) and then would not say which row failed; and GX reads index *columns*
cell by cell (23 s for 200k rows that all fail), where a named index comes back as one list (0.7 s).
"""

from __future__ import annotations

import datetime as dt
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from karma_pipelines.validation.suites import Suite

ROW = "__row__"
_BOUNDS = ("min_value", "max_value")


class SuiteExecutionError(RuntimeError):
    """GX could not evaluate an expectation (an error, not a data failure)."""


@dataclass(frozen=True)
class ExpectationResult:
    index: int  # position of the expectation in the suite
    success: bool
    unexpected_count: int
    rows: np.ndarray  # positions (0-based) of the failing rows in the validated frame


def _gx():
    logger = logging.getLogger("great_expectations")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)
    import great_expectations as gx

    return gx


def gx_parameters(suite: Suite, frame: pd.DataFrame, parameters: dict[str, Any]) -> dict[str, Any]:
    """The suite's parameters as GX wants them: sets as sorted lists, datetime bounds as UTC stamps."""
    time_params = {
        exp["kwargs"][bound]["$PARAMETER"]
        for exp in suite.expectations
        for bound in _BOUNDS
        if isinstance(exp["kwargs"].get(bound), dict)
        and isinstance(frame[exp["kwargs"]["column"]].dtype, pd.DatetimeTZDtype)
    }
    out: dict[str, Any] = {}
    for name in suite.parameters:
        value = parameters[name]
        if isinstance(value, (set, frozenset, tuple, list, pd.Index, np.ndarray, pd.Series)):
            value = sorted(value, key=str)
        if name in time_params and isinstance(value, (str, dt.date, np.datetime64)):
            stamp = pd.Timestamp(value)
            value = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        out[name] = value
    return out


def run_suite(
    frame: pd.DataFrame, suite: Suite, parameters: dict[str, Any], docs_path: Path | None = None
) -> list[ExpectationResult]:
    """Validate the suite's columns of `frame` with GX; one result per expectation, in suite order.
    With `docs_path`, the validation's Data Docs page (GX's own renderer) is written there."""
    gx = _gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    data = frame[suite.columns].reset_index(drop=True)
    data.index = pd.RangeIndex(len(data), name=ROW)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        # The suite index rides in each expectation's meta so results map back whatever GX's order.
        expectations = [
            {**exp, "meta": {**exp.get("meta", {}), "karma_index": i}}
            for i, exp in enumerate(suite.expectations)
        ]
        gx_suite = gx.ExpectationSuite(name=suite.name, expectations=expectations)
        if len(gx_suite.expectations) != len(expectations):
            # GX logs and drops an invalid expectation instead of raising.
            raise ValueError(f"{suite.path}: GX rejected some expectations (see the log above)")
        batch = (
            context.data_sources.add_pandas("karma")
            .add_dataframe_asset(suite.name)
            .add_batch_definition_whole_dataframe("whole")
            .get_batch(batch_parameters={"dataframe": data})
        )
        validation = batch.validate(
            gx_suite,
            expectation_parameters=gx_parameters(suite, frame, parameters),
            result_format={
                "result_format": "COMPLETE",
                "unexpected_index_column_names": [ROW],
                "exclude_unexpected_values": True,
                "partial_unexpected_count": 0,
            },
        )

    if docs_path is not None:
        write_data_docs(validation, Path(docs_path))
    results = []
    for res in validation.results:
        index = int(res.expectation_config.meta["karma_index"])
        info = res.exception_info or {}
        infos = [info] if "raised_exception" in info else list(info.values())
        raised = [i for i in infos if isinstance(i, dict) and i.get("raised_exception")]
        if raised:
            raise SuiteExecutionError(
                f"suite {suite.name!r}: {suite.reason(index)} could not be evaluated: "
                f"{raised[0].get('exception_message')}"
            )
        # With exclude_unexpected_values: [{ROW: [positions…]}], or [] when nothing failed.
        unexpected = res.result.get("unexpected_index_list") or [{ROW: []}]
        rows = np.asarray(unexpected[0][ROW], dtype=np.int64)
        count = int(res.result.get("unexpected_count") or 0)
        if count != len(rows):
            raise SuiteExecutionError(
                f"suite {suite.name!r}: {suite.reason(index)} reported {count} failing rows "
                f"but listed {len(rows)}"
            )
        results.append(ExpectationResult(index, bool(res.success), count, np.unique(rows)))
    if sorted(r.index for r in results) != list(range(len(suite.expectations))):
        raise SuiteExecutionError(f"suite {suite.name!r}: GX did not return every expectation")
    return sorted(results, key=lambda r: r.index)


def write_data_docs(validation, path: Path) -> Path:
    """GX's Data Docs page for one validation result, as a standalone HTML file."""
    from great_expectations.render.renderer import ValidationResultsPageRenderer
    from great_expectations.render.view import DefaultJinjaPageView

    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path.write_text(DefaultJinjaPageView().render(ValidationResultsPageRenderer().render(validation)))
    return path
