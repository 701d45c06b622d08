"""Reading a repository's history with git plumbing, in two processes whatever its length.

`read_commits` streams one `git log --first-parent --raw --numstat -z` (commits with the paths they
change, both blob ids and git's own count of lines added and removed, merges diffed against their
first parent); `blobs.py` reads the blobs asked for from one `git cat-file --batch`.

Paths are decoded with `surrogateescape`: two names that are different bytes (not UTF-8) stay two
paths, and the bytes are recoverable (`os.fsencode`). What is written out is `layout.path_text(path)`.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ZERO_SHA = "0" * 40
_FORMAT = "%H%x00%P%x00%ct%x00%aE%x00%aN%x00%s%x00%B"
_CHUNK = 1 << 16


class GitError(RuntimeError):
    """A git command failed; the message carries git's own error text."""


@dataclass(frozen=True)
class Change:
    """One path changed by a commit (`git diff --raw`): modes and blob ids before and after, and
    the lines added and removed as `git diff --numstat` counts them (0 and 0 for a binary file)."""

    path: str
    status: str  # A, M, D or T (type change); renames are off
    old_mode: str
    new_mode: str
    old_blob: str
    new_blob: str
    added: int = 0
    removed: int = 0


@dataclass
class Commit:
    sha: str
    parents: tuple[str, ...]
    time: int  # committer time, seconds since the epoch
    author_email: str
    author_name: str
    subject: str
    message: str
    changes: list[Change] = field(default_factory=list)  # only the paths the caller kept
    reverts: tuple[str, ...] = ()  # commit ids its message says it reverts (filled by the caller)
    left_out: list[str] = field(default_factory=list)  # paths not kept that `notice` accepted


def git_env(ceiling: Path | None = None) -> dict[str, str]:
    """The environment without GIT_* variables (a hook's GIT_DIR must not redirect us)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["LC_ALL"] = "C"
    if ceiling is not None:
        env["GIT_CEILING_DIRECTORIES"] = str(ceiling)
    return env


PIPE_BYTES = 1 << 20  # what git may write ahead of the reader (Linux's default pipe holds 64 KiB)


def widen_pipe(stream) -> None:
    """Lets git write up to `PIPE_BYTES` ahead of us, where the system allows: on a busy machine a
    process that waits for a full pipe to drain is run again late."""
    with contextlib.suppress(ImportError, AttributeError, OSError):  # not Linux, or over its limit: as it is
        import fcntl

        fcntl.fcntl(stream.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)


def run_git(git_dir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    proc = subprocess.run(
        ["git", f"--git-dir={git_dir}", "-c", "log.showSignature=false", *args],
        capture_output=True,
        env=git_env(),
        check=False,
    )
    if check and proc.returncode != 0:
        raise GitError(f"git {' '.join(args)}: {proc.stderr.decode(errors='replace').strip()}")
    return proc


def find_git_dir(repo: Path) -> Path:
    """The git directory of `repo` (a work tree's top folder, a bare repository or a `.git` folder)."""
    repo = Path(repo).expanduser().resolve()
    if not repo.is_dir():
        raise ValueError(f"not a Git repository: {repo} (no such folder)")
    # The ceiling stops git from finding a repository that merely contains `repo`.
    proc = subprocess.run(
        ["git", "rev-parse", "--absolute-git-dir"],
        cwd=repo,
        capture_output=True,
        env=git_env(ceiling=repo.parent),
        check=False,
    )
    if proc.returncode != 0:
        reason = proc.stderr.decode(errors="replace").strip().splitlines()
        raise ValueError(f"not a Git repository: {repo} ({reason[-1] if reason else 'git rev-parse failed'})")
    return Path(proc.stdout.decode().strip())


def resolve_commit(git_dir: Path, ref: str) -> str | None:
    """The full sha of the commit `ref` names, or None when it names none."""
    proc = run_git(
        git_dir, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", check=False
    )
    return proc.stdout.decode().strip() if proc.returncode == 0 else None


def read_commits(
    git_dir: Path,
    tip: str,
    since: str | None,
    keep: Callable[[str], bool],
    notice: Callable[[str], bool] | None = None,
) -> Iterator[Commit]:
    """First-parent commits of `since..tip` (all of `tip`'s when `since` is None), oldest first.

    Only the changes whose path `keep` accepts are kept; every commit is yielded, changed or not.
    The other paths that `notice` accepts are listed in `left_out`.
    """
    rev = f"{since}..{tip}" if since else tip
    args = [
        "git", f"--git-dir={git_dir}", "-c", "log.showSignature=false", "log", "--first-parent",
        "--diff-merges=first-parent", "--root", "--no-renames", "--raw", "--numstat", "--no-abbrev", "-z",
        "--no-color", "--encoding=UTF-8", "--reverse", f"--format={_FORMAT}", rev, "--",
    ]  # fmt: skip
    with (
        tempfile.TemporaryFile() as err,
        subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, env=git_env()) as proc,
    ):
        assert proc.stdout is not None
        widen_pipe(proc.stdout)
        yield from _parse_log(_tokens(proc.stdout), keep, notice)
        if proc.wait() != 0:
            err.seek(0)
            raise GitError(f"git log {rev}: {err.read().decode(errors='replace').strip()}")


def _tokens(stream) -> Iterator[bytes]:
    """NUL-separated tokens of a stream, read in chunks (as they come: the log is parsed while git
    writes it)."""
    rest = b""
    while chunk := stream.read1(_CHUNK):
        parts = (rest + chunk).split(b"\x00")
        rest = parts.pop()
        yield from parts
    if rest:
        yield rest


def _parse_log(
    tokens: Iterator[bytes], keep: Callable[[str], bool], notice: Callable[[str], bool] | None = None
) -> Iterator[Commit]:
    """Commits from `-z` log output: 7 header tokens, then `:<modes> <blobs> <status>`, path pairs,
    then one `<added>\t<removed>\t<path>` per path (`-\t-\t<path>` for a binary file)."""
    commit: Commit | None = None
    pending: bytes | None = None
    # the kept paths' fields, by the path as git wrote it (its numstat entry names it so): made a
    # `Change` when the commit's numstat entries have been read
    kept: dict[bytes, list] = {}
    for token in tokens:
        if pending is not None:
            path = token.decode("utf-8", errors="surrogateescape")  # distinct bytes stay distinct
            if keep(path):
                old_mode, new_mode, old_blob, new_blob, status = pending.lstrip(b"\n:").decode().split(" ")
                kept[token] = [path, status[0], old_mode, new_mode, old_blob, new_blob, 0, 0]
            elif notice is not None and notice(path):
                commit.left_out.append(path)
            pending = None
            continue
        if commit is not None and token.startswith((b":", b"\n:")):
            pending = token
            continue
        if commit is not None and b"\t" in token:  # a numstat entry (a commit id has no tab)
            added, removed, path = token.lstrip(b"\n").split(b"\t", 2)
            fields = kept.get(path)
            if fields is not None and added != b"-":
                fields[6], fields[7] = int(added), int(removed)
            continue
        if not token.strip():
            continue  # the end of the output
        if commit is not None:
            commit.changes = [Change(*fields) for fields in kept.values()]
            yield commit
        parents, ctime, email, name = next(tokens), next(tokens), next(tokens), next(tokens)
        subject, message = next(tokens), next(tokens)
        commit = Commit(
            token.decode("utf-8", errors="replace").strip(),  # sha
            tuple(parents.decode("utf-8", errors="replace").split()),
            int(ctime),
            email.decode("utf-8", errors="replace"),
            name.decode("utf-8", errors="replace"),
            subject.decode("utf-8", errors="replace"),
            message.decode("utf-8", errors="replace"),
        )
        kept = {}
    if commit is not None:
        commit.changes = [Change(*fields) for fields in kept.values()]
        yield commit


def resolve_ref(repo: Path, ref: str | None = None) -> str:
    """The full sha that `ref` (default HEAD) names in `repo`; ValueError naming both when none."""
    sha = resolve_commit(find_git_dir(repo), ref or "HEAD")
    if sha is None:
        raise ValueError(f"{repo}: ref {ref or 'HEAD'!r} names no commit")
    return sha
