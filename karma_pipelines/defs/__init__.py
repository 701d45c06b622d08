"""Thin Dagster definitions on top of the library: assets call it and describe the result."""
