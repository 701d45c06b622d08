"""Writing a Git history quickly: one `git fast-import` process fed commit by commit."""

from __future__ import annotations

import subprocess
from pathlib import Path

from karma_pipelines.sources.git.log import git_env


def init_repo(path: Path) -> Path:
    """An empty non-bare repository at `path` whose branch is `main`."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True, env=git_env())
    return path


def check_out(path: Path, ref: str = "main") -> None:
    """Fill the work tree of `path` with `ref` (fast-import writes objects and refs only)."""
    subprocess.run(["git", "-C", str(path), "reset", "-q", "--hard", ref], check=True, env=git_env())


class FastImport:
    """`git fast-import` fed commit by commit; `sha(mark)` asks it for a commit's id. Files are
    `path -> bytes` (None deletes the path). `tip` is the last commit on the branch written."""

    def __init__(self, path: Path, marks: Path | None = None):
        args = ["git", "fast-import", "--quiet", "--done"]
        self.marks = marks
        if marks is not None:
            args.append(f"--export-marks={marks}")
        self.proc = subprocess.Popen(
            args, cwd=path, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=git_env()
        )
        self.buf: list[bytes] = []
        self.mark = 0
        self.tip: int | None = None

    def commit(
        self,
        ref: str,
        when: int,
        author: tuple[str, str],
        message: str,
        files: dict[str, bytes | None],
        parent: int | None,
        merge: int | None = None,
        authored: int | None = None,
    ) -> int:
        """A commit (committed at `when`, authored at `authored`, default five minutes earlier)."""
        self.mark += 1
        name, email = author
        msg = message.encode()
        authored = when - 300 if authored is None else authored
        out = [
            f"commit {ref}\nmark :{self.mark}\n".encode(),
            f"author {name} <{email}> {authored} +0000\n".encode(),
            f"committer {name} <{email}> {when} +0000\ndata {len(msg)}\n".encode(),
            msg,
            b"\n",
        ]
        if parent is not None:
            out.append(f"from :{parent}\n".encode())
        if merge is not None:
            out.append(f"merge :{merge}\n".encode())
        for path, data in files.items():
            if data is None:
                out.append(f"D {path}\n".encode())
            else:
                out.append(f"M 100644 inline {path}\ndata {len(data)}\n".encode() + data + b"\n")
        self.buf.append(b"".join(out) + b"\n")
        if len(self.buf) > 256:
            self.flush()
        return self.mark

    def sha(self, mark: int) -> str:
        self.buf.append(f"get-mark :{mark}\n".encode())
        self.flush()
        return self.proc.stdout.readline().decode().strip()

    def flush(self) -> None:
        self.proc.stdin.write(b"".join(self.buf))
        self.proc.stdin.flush()
        self.buf = []

    def close(self) -> dict[int, str]:
        """Finish; returns mark -> commit sha when marks were exported."""
        self.buf.append(b"done\n")
        self.flush()
        self.proc.stdin.close()
        if self.proc.wait() != 0:
            raise RuntimeError("git fast-import failed")
        if self.marks is None:
            return {}
        lines = self.marks.read_text().splitlines()
        self.marks.unlink()
        return {int(k[1:]): v for k, v in (line.split() for line in lines if line.strip())}
