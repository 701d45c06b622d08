"""Shared pieces of the insights: the result type, event access, time buckets, incidents, figures."""

from __future__ import annotations

import io
import math
import textwrap
from dataclasses import dataclass, fields
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

UTC = "datetime64[ns, UTC]"
HOURS_PER_DAY = 24.0
NO_EVENTS = "no event log (a Git source)"


@dataclass(frozen=True)
class InsightResult:
    """What every insight returns: its tables (dataclass fields of the subclass), numbers and a summary.

    `numbers` holds plain ints and floats (NaN when a number cannot be computed); `summary` is markdown;
    `notes` say what could not be computed and why.
    """

    numbers: dict[str, float | int]
    summary: str
    notes: tuple[str, ...]

    MAIN: ClassVar[str] = ""

    @property
    def table(self) -> pd.DataFrame:
        """The main table (the asset value)."""
        return getattr(self, self.MAIN)

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table of the result, main first."""
        out = {self.MAIN: self.table}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, pd.DataFrame) and f.name not in out:
                out[f.name] = value
        return out


# -- inputs -------------------------------------------------------------------------------------------


def has_events(events: pd.DataFrame | None) -> bool:
    return events is not None and len(events) > 0 and "event_type" in events.columns


def events_of(events: pd.DataFrame | None, *event_types: str) -> pd.DataFrame:
    """Rows of the given types with a parsed timestamp, sorted by time (empty when there is no log)."""
    columns = ["ts", "event_type", "entity_id", "correlation_id", "attrs", "tags"]
    if not has_events(events):
        return pd.DataFrame({c: pd.Series(dtype=UTC if c == "ts" else object) for c in columns})
    rows = events[events["event_type"].isin(event_types) & events["ts"].notna()]
    out = rows.reindex(columns=columns).sort_values("ts", kind="stable").reset_index(drop=True)
    out["attrs"] = [a if isinstance(a, dict) else {} for a in out["attrs"]]
    out["tags"] = [t if isinstance(t, dict) else {} for t in out["tags"]]
    return out


def attr(frame: pd.DataFrame, key: str) -> pd.Series:
    """`attrs[key]` for every row (None when absent)."""
    return pd.Series([a.get(key) for a in frame["attrs"]], index=frame.index, dtype=object)


def end_of_history(
    events: pd.DataFrame | None, deploys: pd.DataFrame, as_of: pd.Timestamp | None = None
) -> pd.Timestamp | None:
    """`as_of` when given, else the latest event or deploy time (None when there is nothing at all)."""
    if as_of is not None:
        return pd.Timestamp(as_of)
    times = [deploys["deployed_at"].max()] if len(deploys) else []
    if has_events(events):
        times.append(events["ts"].max())
    times = [t for t in times if pd.notna(t)]
    return max(times) if times else None


def component_info(deploys: pd.DataFrame) -> pd.DataFrame:
    """Per component: type, environment (of its latest deploy), first deploy and end of life.

    `deleted_at` is the time of a final `delete` deploy (the component no longer exists after it)."""
    cols = ["component", "component_type", "environment", "first_deploy_at", "deleted_at"]
    if deploys.empty:
        return pd.DataFrame({c: pd.Series(dtype=UTC if c.endswith("_at") else object) for c in cols})
    ordered = deploys.sort_values(["deployed_at", "deploy_id"], kind="stable")
    last = ordered.groupby("component", sort=True).tail(1).set_index("component")
    first = ordered.groupby("component", sort=True)["deployed_at"].min()
    deleted = last["deployed_at"].where(last["action"] == "delete")
    out = pd.DataFrame(
        {
            "component_type": last["component_type"].astype(str),
            "environment": last["environment"].astype(str),
            "first_deploy_at": first,
            "deleted_at": deleted.astype(UTC),
        }
    ).rename_axis("component")
    return out.reset_index()[cols]


def week_start(ts: pd.Series) -> pd.Series:
    """Monday 00:00 UTC of each timestamp's ISO week."""
    ts = pd.to_datetime(ts, utc=True)
    return (ts - pd.to_timedelta(ts.dt.weekday, unit="D")).dt.floor("D")


def weeks_between(start: pd.Timestamp, end: pd.Timestamp) -> pd.DatetimeIndex:
    """Week starts (Mondays) from the week of `start` to the week of `end`, inclusive."""
    first = week_start(pd.Series([start])).iloc[0]
    last = week_start(pd.Series([end])).iloc[0]
    return pd.date_range(first, last, freq="7D")


def _alive_hours(info: pd.DataFrame, end: pd.Timestamp, start=None, stop=None) -> pd.Series:
    """Hours each component existed (first deploy to deletion or end), optionally within [start, stop)."""
    lo = info["first_deploy_at"]
    hi = info["deleted_at"].fillna(end).clip(upper=end)
    if start is not None:
        lo = lo.clip(lower=start)
        hi = hi.clip(upper=stop)
    return ((hi - lo).dt.total_seconds() / 3600.0).clip(lower=0.0)


def _overlap_hours(
    drifts: pd.DataFrame, end: pd.Timestamp, start: pd.Timestamp, stop: pd.Timestamp
) -> pd.Series:
    lo = drifts["detected_at"].clip(lower=start)
    hi = drifts["resolved_at"].fillna(end).clip(upper=stop)
    return ((hi - lo).dt.total_seconds() / 3600.0).clip(lower=0.0)


def incidents(deploys: pd.DataFrame) -> pd.DataFrame:
    """One row per incident: a deploy that failed or was rolled back (at any delay), counted once.

    The incident time is the rollback time when it was rolled back, else the deploy time. A rollback
    whose undone deploy is not in the table still counts, at its own time."""
    cols = ["component", "deploy_id", "at", "kind"]
    if deploys.empty:
        return pd.DataFrame({c: pd.Series(dtype=UTC if c == "at" else object) for c in cols})
    ordinary = deploys[~deploys["is_rollback"].astype(bool)]
    rolled = ordinary["rolled_back_at"].notna()
    failed = ordinary["outcome"].astype(str).eq("failed")
    bad = ordinary[rolled | failed]
    rows = pd.DataFrame(
        {
            "component": bad["component"].astype(str),
            "deploy_id": bad["deploy_id"].astype(str),
            "at": bad["rolled_back_at"].where(bad["rolled_back_at"].notna(), bad["deployed_at"]),
            "kind": np.where(bad["rolled_back_at"].notna(), "rollback", "failure"),
        }
    )
    rollbacks = deploys[deploys["is_rollback"].astype(bool)]
    known = set(ordinary["deploy_id"].astype(str))
    orphans = rollbacks[~rollbacks["rolls_back"].astype(str).isin(known) | rollbacks["rolls_back"].isna()]
    rows = pd.concat(
        [
            rows,
            pd.DataFrame(
                {
                    "component": orphans["component"].astype(str),
                    "deploy_id": orphans["deploy_id"].astype(str),
                    "at": orphans["deployed_at"],
                    "kind": "rollback",
                }
            ),
        ],
        ignore_index=True,
    )
    rows["at"] = rows["at"].astype(UTC)
    return rows.sort_values(["at", "deploy_id"], kind="stable").reset_index(drop=True)[cols]


# -- text ---------------------------------------------------------------------------------------------


def md_table(frame: pd.DataFrame, max_rows: int = 10, floatfmt: str = ".3g") -> str:
    if frame.empty:
        return "_(no rows)_"
    text = frame.head(max_rows).to_markdown(index=False, floatfmt=floatfmt)
    if len(frame) > max_rows:
        text += f"\n\n… {len(frame) - max_rows} more rows"
    return text


def fmt(value: float, spec: str = ".3g") -> str:
    return (
        "n/a"
        if value is None or (isinstance(value, float) and not math.isfinite(value))
        else f"{value:{spec}}"
    )


def summary_text(title: str, lines: list[str], notes: tuple[str, ...] = ()) -> str:
    parts = [f"### {title}", "", *lines]
    if notes:
        parts += ["", *[f"> **Note:** {n}" for n in notes]]
    return "\n".join(parts)


# -- figures ------------------------------------------------------------------------------------------


def new_figure(width: float = 10.0, height: float = 4.2) -> Figure:
    """A matplotlib figure on the Agg canvas (no pyplot, no global state, files only)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: Path | str, dpi: int = 72) -> Path:
    """Write the figure as a PNG (small: it is embedded in Dagster metadata)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    buffer.seek(0)
    # A 128-colour palette keeps plots sharp at a third of the size.
    with Image.open(buffer) as image:
        image.convert("RGB").quantize(colors=128).save(path, format="PNG", optimize=True)
    return path


def note_axes(ax, text: str) -> None:
    """An empty panel saying why there is nothing to draw."""
    ax.set_axis_off()
    wrapped = "\n".join(textwrap.fill(line, 60) for line in text.splitlines())
    ax.text(0.5, 0.5, wrapped, ha="center", va="center", fontsize=10, transform=ax.transAxes)


def empty_plot(path: Path | str, title: str, notes: tuple[str, ...] = ()) -> Path:
    """A small figure saying why there is nothing to draw (so that every insight has a plot)."""
    fig = new_figure(8, 2.5)
    ax = fig.subplots()
    ax.set_axis_off()
    text = "\n".join([title, *[textwrap.fill(n, 90) for n in notes]])
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=10, transform=ax.transAxes)
    return save_figure(fig, path)
