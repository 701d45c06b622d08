"""Reading blobs with one `git cat-file --batch` process, whatever their number.

`BlobReader` takes requests while it answers earlier ones (`request` then `next`, in the order asked),
so that a pass over the history can ask for a commit's blobs as soon as `git log` names them and read
them when it gets to that commit: `git cat-file` finds them meanwhile. A thread writes the requests
while the caller reads the answers, so neither pipe can fill up and stall the other. `read_blobs` is
the one-shot form: every blob of a list, in order.
"""

from __future__ import annotations

import queue
import subprocess
import tempfile
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from karma_pipelines.sources.git.log import GitError, git_env, widen_pipe

_CHUNK = 1 << 16
BATCH = 128  # blob ids sent to git at a time (a thread switch each)
# ... or fewer when git has fewer than this left to answer: a history that names few blobs (a big file
# changed now and then) would otherwise have every batch sent when its first blob is needed, and wait
# for git to find it.
LOW = 32


@dataclass(frozen=True)
class Blob:
    sha: str
    size: int  # -1 when the object is missing
    data: bytes | None  # None when missing or larger than the limit (not read)


class BlobReader:
    """One `git cat-file --batch` process: `request` blob ids, then `next` gives them in that order.

    Blobs over `max_bytes` are skipped over, not kept. Use as a context manager: leaving it with blobs
    still unread (an error elsewhere) stops git; `close` checks that git ended well.
    """

    def __init__(self, git_dir: Path, max_bytes: int):
        self.git_dir, self.max_bytes = git_dir, max_bytes
        self._proc: subprocess.Popen | None = None
        self._wanted: deque[str] = deque()  # asked for, not read yet
        self._unsent: list[str] = []  # asked for, not sent to git yet (the last of `_wanted`)
        self._requests: queue.SimpleQueue = queue.SimpleQueue()

    def _start(self) -> subprocess.Popen:
        self._err = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close/abort
        args = ["git", f"--git-dir={self.git_dir}", "cat-file", "--batch"]
        self._proc = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._err, env=git_env()
        )
        widen_pipe(self._proc.stdout)
        self._writer = threading.Thread(target=_write_requests, args=(self._proc.stdin, self._requests))
        self._writer.daemon = True
        self._writer.start()
        return self._proc

    def request(self, shas: list[str]) -> None:
        """Asks for `shas` (sent to git `BATCH` at a time, at once while fewer than `LOW` sent are
        unread, or when `next` needs them)."""
        if shas:
            self._wanted.extend(shas)
            self._unsent.extend(shas)
            if len(self._unsent) >= BATCH or len(self._wanted) - len(self._unsent) < LOW:
                self._send()

    def _send(self) -> None:
        if self._proc is None:
            self._start()
        self._requests.put("".join(f"{s}\n" for s in self._unsent).encode())
        self._unsent = []

    def pending(self) -> int:
        return len(self._wanted)

    def next(self) -> Blob:
        """The next blob asked for (IndexError when none is)."""
        if self._unsent and len(self._unsent) >= len(self._wanted):  # the next one is not sent yet
            self._send()
        sha = self._wanted.popleft()
        out = self._proc.stdout
        header = out.readline().split()
        if not header:
            self._fail("stopped before every blob was read")
        if len(header) < 3:  # `<sha> missing` (or ambiguous)
            return Blob(sha, -1, None)
        size = int(header[2])
        if size > self.max_bytes:
            _skip(out, size + 1)
            return Blob(sha, size, None)
        data = out.read(size)
        out.read(1)  # the newline after the content
        return Blob(sha, size, data)

    def close(self) -> None:
        """Ends git; GitError when it failed (or blobs asked for were not read)."""
        if self._proc is None:
            if self._wanted:
                raise GitError(f"git cat-file --batch: {len(self._wanted)} blob(s) asked for were not read")
            return
        proc, self._proc = self._proc, None
        self._requests.put(None)
        self._writer.join()
        unread = len(self._wanted)
        if proc.wait() != 0 or unread:
            self._proc = proc
            self._fail(f"{unread} blob(s) asked for were not read" if unread else "")
        proc.stdout.close()
        self._err.close()

    def _fail(self, default: str):
        proc, self._proc = self._proc, None
        proc.kill()
        proc.wait()
        self._requests.put(None)
        self._writer.join()
        self._err.seek(0)
        message = self._err.read().decode(errors="replace").strip() or default
        proc.stdout.close()
        self._err.close()
        raise GitError(f"git cat-file --batch: {message}")

    def abort(self) -> None:
        """Stops git without reading what is left (the caller stopped early)."""
        if self._proc is not None:
            proc, self._proc = self._proc, None
            proc.kill()
            self._requests.put(None)
            self._writer.join()
            proc.wait()
            proc.stdout.close()
            self._err.close()

    def __enter__(self) -> BlobReader:
        return self

    def __exit__(self, kind, *_) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


def read_blobs(git_dir: Path, shas: list[str], max_bytes: int) -> Iterator[Blob]:
    """The blobs `shas` names, in that order, from one `git cat-file --batch` process."""
    if not shas:
        return
    with BlobReader(git_dir, max_bytes) as reader:
        reader.request(shas)
        while reader.pending():
            yield reader.next()


def _write_requests(stdin, requests: queue.SimpleQueue) -> None:
    try:
        while (chunk := requests.get()) is not None:
            stdin.write(chunk)
            stdin.flush()
        stdin.close()
    except (BrokenPipeError, ValueError, OSError):  # git stopped (or was stopped); the reader reports it
        pass


def _skip(stream, n: int) -> None:
    while n > 0:
        got = len(stream.read(min(n, _CHUNK)))
        if got == 0:
            return
        n -= got
