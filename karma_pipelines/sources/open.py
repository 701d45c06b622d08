"""`open_source`: the one place a source kind (`simulator`, `events`, `git`) becomes a `Source`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from karma_pipelines.sources.base import Source
from karma_pipelines.sources.event_world import EventLogSource
from karma_pipelines.sources.git.layout import DEFAULT_LAYOUT
from karma_pipelines.sources.git.source import GitSource

KINDS = ("simulator", "events", "git")


def open_source(
    kind: str,
    path: str | Path,
    layout: str | Sequence[str] = DEFAULT_LAYOUT,
    ref: str | None = None,
    state_dir: str | Path | None = None,
    simulation: dict | None = None,
) -> Source:
    """The source of `kind` at `path`: `simulator` (a world written there on first use from
    `simulation`), `events` (a world folder) or `git` (a repository, read incrementally when
    `state_dir` is given; `layout` one pattern or several, see `Layouts`)."""
    if kind == "simulator":
        return EventLogSource(Path(path), simulate=dict(simulation or {}))
    if kind == "events":
        return EventLogSource(Path(path))
    if kind == "git":
        return GitSource(Path(path), layout, ref, Path(state_dir) if state_dir else None)
    raise ValueError(f"source kind {kind!r}: expected one of {', '.join(KINDS)}")


def parse_source_spec(spec: str, home: Path) -> tuple[str, str]:
    """`simulator[:path]`, `events:/path/to/world` or `git:/path/to/repo` -> (kind, path)."""
    kind, _, path = spec.partition(":")
    if kind == "simulator":
        return kind, path or str(Path(home) / "world")
    if kind in ("events", "git") and path:
        return kind, path
    raise ValueError(f"SOURCE={spec!r}: expected 'simulator', 'events:/path/to/world' or 'git:/path/to/repo'")
