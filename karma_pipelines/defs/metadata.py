"""Dagster metadata from library results: numbers as numbers, tables as markdown, no raw values."""

import math

import dagster as dg
import pandas as pd


def numbers(values: dict[str, float], prefix: str = "") -> dict[str, dg.MetadataValue]:
    """Finite numbers as float/int metadata (Dagster plots them over time)."""
    out: dict[str, dg.MetadataValue] = {}
    for key, value in values.items():
        if isinstance(value, bool | int) and not isinstance(value, float):
            out[f"{prefix}{key}"] = dg.MetadataValue.int(int(value))
        elif isinstance(value, float) and math.isfinite(value):
            out[f"{prefix}{key}"] = dg.MetadataValue.float(float(value))
    return out


def markdown_table(frame: pd.DataFrame, max_rows: int = 20, floatfmt: str = ".4g") -> dg.MetadataValue:
    shown = frame.head(max_rows)
    text = shown.to_markdown(index=False, floatfmt=floatfmt)
    if len(frame) > max_rows:
        text += f"\n\n… {len(frame) - max_rows} more rows"
    return dg.MetadataValue.md(text)


def table_summary(frame: pd.DataFrame) -> dict[str, dg.MetadataValue]:
    return {"dagster/row_count": dg.MetadataValue.int(len(frame)), "columns": len(frame.columns)}
