"""Parsing a `.tf` file with python-hcl2, block by block when the whole file is rejected.

A file python-hcl2 cannot parse is split into its top-level blocks (a line at column 0 that starts
with an identifier opens one; heredoc bodies are skipped) and each block is parsed on its own, so
one block written in a syntax python-hcl2 does not know (`filter { name = "a"; values = [...] }`)
costs that block only. A block that still fails is reported with the parser's message and line,
and only its plain `local.config.<path>` references are read from it (`fallback_reads`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import hcl2
from lark import Tree

from karma_pipelines.suggester.hcl_expressions import Read

_BLOCK_START = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*")
_HEREDOC = re.compile(r"<<-?\s*([A-Za-z_][A-Za-z0-9_]*)\s*$")
_FALLBACK = re.compile(r"local\.(?:config|cfg)((?:\.[A-Za-z_][A-Za-z0-9_-]*|\[\"[^\"]+\"\])+)")
_MAX_MESSAGE = 200


@dataclass(frozen=True)
class ParseFailure:
    """One part of a file python-hcl2 rejected: where, which block, and the parser's message."""

    file: str
    line: int  # the line the parser stopped at (1-based, in the file)
    block: str  # the block's header (`data "aws_ami" "al2023"`), or "" for the whole file
    message: str  # the parser's message, first line
    recovered: bool = False  # read all the same, with its `;`-separated attributes on lines of their own

    @property
    def outcome(self) -> str:
        if self.recovered:
            return "read after putting its `;`-separated attributes on lines of their own"
        return "only its plain `local.config.<path>` references read"

    def __str__(self) -> str:
        where = f" in {self.block}" if self.block else ""
        return f"{self.file}:{self.line}{where}: {self.message} ({self.outcome})"

    def as_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "block": self.block, "message": self.message,
                "recovered": self.recovered, "outcome": self.outcome}  # fmt: skip


@dataclass
class ParsedFile:
    """What could be read from one file: parse trees (one for the whole file, or one per block)
    and, for the blocks that failed, their failures and the text left to the fallback."""

    file: str
    trees: list[Tree] = field(default_factory=list)
    failures: list[ParseFailure] = field(default_factory=list)
    unparsed: list[tuple[int, str]] = field(default_factory=list)  # (first line, text) per failed block
    n_blocks: int = 1

    @property
    def status(self) -> str:
        if not self.failures:
            return "parsed"
        if all(f.recovered for f in self.failures):
            return "parsed after repair"
        return "partly parsed" if self.trees else "failed"


def _message(exc: Exception) -> tuple[int, str]:
    """(line, message) of a parser error. The offending token is named by its type and first
    character only: a `.tf` file may hold a literal secret, and no value leaves the suggester."""
    line = int(getattr(exc, "line", 0) or 0)
    token = getattr(exc, "token", None)
    column = getattr(exc, "column", None)
    at = f" at line {line}, column {column}" if line > 0 and column else ""
    if token is not None and getattr(token, "type", "") == "$END":
        text = f"unexpected end of the text{at} (an unclosed block, string or bracket)"
    elif token is not None:
        text = f"unexpected {getattr(token, 'type', 'token')} starting {str(token)[:1]!r}{at}"
    elif getattr(exc, "char", None) is not None:
        text = f"unexpected character {str(exc.char)[:1]!r}{at}"
    else:
        lines = str(exc).strip().splitlines()
        text = re.sub(r"Token\('(\w+)', .*?'\)", r"\1", lines[0] if lines else "")
        if line <= 0:
            found = re.search(r"line (\d+)", text)
            line = int(found.group(1)) if found else 0
    return line, f"{type(exc).__name__}: {text}"[:_MAX_MESSAGE]


def top_level_blocks(text: str) -> list[tuple[int, str]]:
    """(first line, text) of each top-level block of an HCL file, comments before a block included."""
    lines = text.splitlines(keepends=True)
    starts, heredoc = [], None
    for number, line in enumerate(lines):
        if heredoc is not None:
            if line.strip() == heredoc:
                heredoc = None
            continue
        if _BLOCK_START.match(line):
            starts.append(number)
        found = _HEREDOC.search(line.rstrip("\r\n"))
        if found:
            heredoc = found.group(1)
    if not starts:
        return [(1, text)]
    starts[0] = 0
    bounds = [*starts, len(lines)]
    return [(a + 1, "".join(lines[a:b])) for a, b in zip(bounds, bounds[1:], strict=False) if a < b]


def _header(block: str) -> str:
    for line in block.splitlines():
        if _BLOCK_START.match(line):
            return line.split("{")[0].strip()
    return ""


def _semicolons_split(block: str) -> str:
    """`filter { name = "a"; values = ["b"] }` (accepted by Terraform, rejected by python-hcl2) with
    each `;` outside strings and comments replaced by a line break (reads after it in the block are
    a line or so late)."""
    out = []
    for line in block.splitlines(keepends=True):
        quoted, chars = False, []
        for i, ch in enumerate(line):
            if ch == '"' and (i == 0 or line[i - 1] != "\\"):
                quoted = not quoted
            if not quoted and (ch == "#" or line.startswith("//", i)):
                chars.append(line[i:])
                break
            chars.append("\n" if ch == ";" and not quoted else ch)
        out.append("".join(chars))
    return "".join(out)


def parse_file(path: Path, root: Path) -> ParsedFile:
    """Parse one file: whole when python-hcl2 accepts it, else block by block."""
    name = str(path.relative_to(root))
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        return ParsedFile(name, [hcl2.parses_to_tree(text)])
    except Exception as whole:  # noqa: BLE001 - python-hcl2 raises lark errors of many kinds
        blocks = top_level_blocks(text)
        parsed = ParsedFile(name, n_blocks=len(blocks))
        if len(blocks) == 1:
            line, message = _message(whole)
            parsed.failures.append(ParseFailure(name, line, _header(text), message))
            parsed.unparsed.append((1, text))
            return parsed
        for first, block in blocks:
            try:
                # Padded with the lines before it, so the tree's line numbers are the file's.
                parsed.trees.append(hcl2.parses_to_tree("\n" * (first - 1) + block))
            except Exception as exc:  # noqa: BLE001
                line, message = _message(exc)
                recovered = True
                try:
                    parsed.trees.append(hcl2.parses_to_tree("\n" * (first - 1) + _semicolons_split(block)))
                except Exception:  # noqa: BLE001
                    parsed.unparsed.append((first, block))
                    recovered = False
                parsed.failures.append(ParseFailure(name, line, _header(block), message, recovered))
        return parsed


def fallback_reads(parsed: ParsedFile) -> list[Read]:
    """For the blocks python-hcl2 rejected: plain `local.config.<path>` references, as reads
    without a default unless a `try(`/`lookup(` precedes them on the line."""
    reads = []
    for first, text in parsed.unparsed:
        for offset, line in enumerate(text.splitlines()):
            if line.lstrip().startswith(("#", "//")):
                continue
            for match in _FALLBACK.finditer(line):
                segments = re.findall(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[\"([^\"]+)\"\]", match.group(1))
                dotted = ".".join(a or b for a, b in segments)
                defaulted = "try(" in line[: match.start()] or "lookup(" in line[: match.start()]
                reads.append(Read(dotted, defaulted, True, False, parsed.file, first + offset))
    return reads
