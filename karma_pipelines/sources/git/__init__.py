"""Git history as a source: every commit that changes a component's config is a deploy of it.

Library code only: `extract_git_history` reads a repository with git plumbing (one `git log`, one
`git cat-file --batch`) and returns the same tables as the event log, labelled.
"""

from karma_pipelines.sources.git.extract import extract_git_history
from karma_pipelines.sources.git.layout import DEFAULT_LAYOUT, Layout
from karma_pipelines.sources.git.log import GitError, resolve_ref
from karma_pipelines.sources.git.parse import DEFAULT_MAX_FILE_BYTES
from karma_pipelines.sources.git.state import QUARANTINE_TABLE, GitExtraction

__all__ = [
    "DEFAULT_LAYOUT",
    "DEFAULT_MAX_FILE_BYTES",
    "QUARANTINE_TABLE",
    "GitError",
    "GitExtraction",
    "Layout",
    "extract_git_history",
    "resolve_ref",
]
