"""Running one suite with Great Expectations 1.x on a pandas frame; GX is imported only here, lazily.

Failing rows are identified by their position, carried as the frame's named index `ROW` and asked for
with `unexpected_index_column_names=[ROW]`. Not by the table key: a key can be null or duplicated (the
very rows quarantine is for) and then would not say which row failed; and GX reads index *columns*
cell by cell (23 s for 200k rows that all fail), where a named index comes back as one list (0.7 s).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
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


def import_gx():
    """Great Expectations, imported (once: its import takes seconds), with its logger at WARNING."""
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
    gx = import_gx()
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
    """GX's Data Docs page for one validation result, as a standalone HTML file that renders offline."""
    from great_expectations.render.renderer import ValidationResultsPageRenderer
    from great_expectations.render.view import DefaultJinjaPageView

    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        html = DefaultJinjaPageView().render(ValidationResultsPageRenderer().render(validation))
    path.write_text(offline_html(html))
    return path


# GX's page links Bootstrap, bootstrap-table, Font Awesome, jQuery and Vega from CDNs, and its logo from
# S3: opened from disk without a network (or behind a strict proxy) it waits on them and then shows
# unstyled tables with invisible pass/fail icons. The page is static (its scripts only toggle sections),
# so the remote stylesheets and every script go, and this stand-in for the few classes it uses comes in.
_OFFLINE_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; font-size: 14px;
       line-height: 1.45; color: #212529; margin: 0; }
a { color: #0b5cad; }
.container-fluid { box-sizing: border-box; width: 100%; padding: 16px 24px; }
.row { display: flex; flex-wrap: wrap; }
.col-12 { flex: 0 0 100%; max-width: 100%; }
.col-lg-2 { flex: 0 0 18%; max-width: 18%; box-sizing: border-box; padding-right: 16px; }
.col-lg-10 { flex: 0 0 82%; max-width: 82%; box-sizing: border-box; }
@media (max-width: 992px) { [class*="col-"] { flex: 0 0 100%; max-width: 100%; } }
.navbar { display: flex; align-items: center; padding: 0 24px; border-bottom: 1px solid #dee2e6; }
.d-flex { display: flex; align-items: center; }
.d-none { display: none; }
.breadcrumb { display: flex; list-style: none; margin: 0 0 0 12px; padding: 0; }
.breadcrumb-item + .breadcrumb-item::before { content: "/"; padding: 0 6px; color: #6c757d; }
.nav { list-style: none; padding-left: 0; }
.table { border-collapse: collapse; width: 100%; margin-bottom: 12px; }
.table th, .table td { border-top: 1px solid #dee2e6; padding: 4px 8px; text-align: left;
                       vertical-align: top; }
.table-responsive { overflow-x: auto; }
.card { border: 1px solid #dee2e6; border-radius: 4px; margin-bottom: 12px; }
.card-header { background: #f5f5f5; border-bottom: 1px solid #dee2e6; padding: 6px 10px; }
.card-body { padding: 10px; }
.card:has(.btn-group-toggle) { display: none; }  /* show/hide buttons: they need the scripts */
.alert { border-radius: 4px; padding: 6px 10px; margin-bottom: 8px; }
.alert-secondary { background: #e9ecef; }
.badge { display: inline-block; padding: 1px 5px; border-radius: 4px; font-size: 85%; }
.badge-secondary { background: #6c757d; color: #fff; }
.text-success { color: #1e7e34; }
.text-danger { color: #c82333; }
.fas.fa-check-circle::before { content: "\\2714"; }
.fas.fa-times::before, .fas.fa-times-circle::before { content: "\\2718"; }
.fas.fa-question-circle::before { content: "?"; }
.fas.fa-exclamation-triangle::before { content: "\\26A0"; }
"""
_REMOTE = r"(?:https?:)?//"
_REMOTE_LINK = re.compile(rf"<link\b[^>]*\bhref=[\"']{_REMOTE}[^>]*>\s*", re.IGNORECASE)
_FAVICON = re.compile(r"<link\b[^>]*\brel=[\"']shortcut icon[\"'][^>]*>\s*", re.IGNORECASE)
_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>\s*", re.IGNORECASE | re.DOTALL)
_REMOTE_IMG = re.compile(rf"<img\b[^>]*\bsrc=[\"']{_REMOTE}[^>]*>", re.IGNORECASE | re.DOTALL)
_REMOTE_CSS_URL = re.compile(rf"url\([\"']?{_REMOTE}[^)]*\)", re.IGNORECASE)


def offline_html(html: str) -> str:
    """GX's page without anything fetched from the network: no remote stylesheet, script, font or image
    (the logo becomes its name); a small inline stylesheet keeps the layout and the pass/fail marks."""
    html = _REMOTE_LINK.sub("", html)
    html = _FAVICON.sub("", html)  # points into a Data Docs site this single page is not part of
    html = _SCRIPT.sub("", html)
    html = _REMOTE_IMG.sub("<strong>Great Expectations</strong>", html)
    html = _REMOTE_CSS_URL.sub("none", html)
    return html.replace("</head>", f"<style>{_OFFLINE_CSS}</style>\n</head>", 1)
