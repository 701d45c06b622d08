"""How much of a repository's config history the layouts read, and what they leave out.

A commit is **config-touching** when it changes a file that a layout matches or a file that looks like
config (`Layouts.looks_like_config`: YAML/JSON by extension under one of the layouts' folders); it is
**covered** when it changes a file that a layout matches. A config-looking file that no layout
matches is **left out**: its changes are not deploys, so a commit that only touches such files gets
no score. Counted over every first-parent commit read, carried over by an incremental run.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from karma_pipelines.sources.git.layout import path_text

EXAMPLES = 5  # left-out paths named in a report


@dataclass
class Coverage:
    """Running counts over the commits read (all of them, across incremental runs)."""

    layouts: tuple[str, ...]
    commits: int = 0
    config_commits: int = 0
    covered_commits: int = 0
    left_out_commits: int = 0  # commits that change at least one left-out file
    uncovered_commits: int = 0  # config-touching commits that change no matched file
    layout_commits: list[int] = field(default_factory=list)  # per layout: commits changing its files
    layout_files: list[set[str]] = field(default_factory=list)  # per layout: the paths it matched
    left_out: Counter = field(default_factory=Counter)  # left-out path -> commits changing it

    def __post_init__(self) -> None:
        self.layout_commits = self.layout_commits or [0] * len(self.layouts)
        self.layout_files = self.layout_files or [set() for _ in self.layouts]

    def add(self, matched: list[tuple[int, str]], left_out: list[str]) -> None:
        """One commit: the (layout index, path) of each matched file it changes, and the
        config-looking paths it changes that no layout matches."""
        self.commits += 1
        if not matched and not left_out:
            return
        self.config_commits += 1
        if matched:
            self.covered_commits += 1
            for i in {i for i, _ in matched}:
                self.layout_commits[i] += 1
            for i, path in matched:
                self.layout_files[i].add(path)
        else:
            self.uncovered_commits += 1
        if left_out:
            self.left_out_commits += 1
            self.left_out.update(set(left_out))

    def report(self) -> dict[str, Any]:
        """The figures as JSON (`backtest --json`'s `coverage`, the source assets' metadata)."""
        share = self.covered_commits / self.config_commits if self.config_commits else None
        return {
            "commits": self.commits,
            "config_commits": self.config_commits,
            "covered_commits": self.covered_commits,
            "covered_share": share,
            "uncovered_commits": self.uncovered_commits,
            "left_out_commits": self.left_out_commits,
            "left_out_files": len(self.left_out),
            "left_out_examples": [path_text(path) for path, _ in self.left_out.most_common(EXAMPLES)],
            "layouts": [
                {"layout": layout, "commits": commits, "files": len(files)}
                for layout, commits, files in zip(
                    self.layouts, self.layout_commits, self.layout_files, strict=True
                )
            ],
        }

    def warning(self) -> str | None:
        """A sentence naming how many config-looking files the layouts leave out, and a few of them."""
        if not self.left_out:
            return None
        examples = ", ".join(path_text(path) for path, _ in self.left_out.most_common(EXAMPLES))
        more = len(self.left_out) - min(EXAMPLES, len(self.left_out))
        return (
            f"the layouts leave out {len(self.left_out):,} file(s) that look like config (YAML/JSON under "
            f"{', '.join(_folders(self.layouts)) or 'the repository'}), changed by "
            f"{self.left_out_commits:,} commit(s), {self.uncovered_commits:,} of which change no file a "
            f"layout matches (covered: {self.covered_commits:,} of {self.config_commits:,} config-touching "
            f"commits): {examples}{f' and {more:,} more' if more else ''}. Add a --layout for them."
        )


def _folders(layouts: tuple[str, ...]) -> list[str]:
    from karma_pipelines.sources.git.layout import Layouts

    return [f"{folder}/" for folder in Layouts.of(list(layouts)).folders if folder]
