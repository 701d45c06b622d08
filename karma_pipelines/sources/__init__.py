"""Sources: readers that turn a Karma world (or a Git history) into the tables of `schema.py`."""

from karma_pipelines.sources.event_log import WorldNotFound, read_event_log, read_world_components

__all__ = ["WorldNotFound", "read_event_log", "read_world_components"]
