"""Where a YAML text splits into top-level blocks (`yaml_blocks.BlockCache` parses each block once), and
a top-level entry's body into its nested entries: found from the text alone, never by parsing it. Each
function returns None when the text cannot be split safely (the caller then parses it whole)."""

from __future__ import annotations

import re

# A line whose first character is content, at column 0, found from the line break before it (a pattern
# that starts with `^` is tried at every position of the text; one that starts with `\n` is searched for).
_ENTRY = re.compile(r"\n[^\s#]")
_COMMENTS = re.compile(r"(?:[ \t]*(?:#[^\n]*)?\r?\n)*")
_NESTED_START = re.compile(r"[^\s#]")


def split_nested(body: str) -> tuple[bool, list[str]] | None:
    """(a list?, the entries of a top-level entry's body (its lines after `key:`), at the indentation of
    its first line of content), or None when it cannot be split safely."""
    other = _other_breaks(body)
    found = next(((at, line) for at, line in _lines(body, 0, other) if _is_content(line.lstrip(" "))), None)
    if found is None:
        return None
    first, line = found
    content = line.lstrip(" ")
    indent = len(line) - len(content)
    is_list = content.startswith(("- ", "-\n", "-\r"))
    if indent == 0 and not is_list:
        return None
    starts: list[int] = []
    for at, line in _shallow_lines(body, first, indent, other):
        content = line.lstrip(" ")
        if not _is_content(content):
            continue  # blank or comment lines belong to the entry they are in
        depth = len(line) - len(content)
        if depth != indent:
            if depth < indent:
                return None
            continue
        if is_list:
            if not content.startswith(("- ", "-\n", "-\r")):
                return None
        elif content.startswith("-"):
            continue  # an indentless list in the key above
        elif not _NESTED_START.match(content) or content[0] in "[{?|>!@`&*'\"%" or content.startswith("<<"):
            return None  # a complex, quoted or merge key: parsed whole
        starts.append(at)
    if not starts:
        return None
    starts[0] = 0  # comments before the first entry go with it
    ends = [*starts[1:], len(body)]
    return is_list, [body[a:b] for a, b in zip(starts, ends, strict=True)]


def _is_content(content: str) -> bool:
    """Whether a line (its leading spaces stripped) is neither blank nor a comment."""
    return bool(content.strip()) and not content.startswith("#")


# Line breaks other than `\n` (and the `\r` of `\r\n`) that `str.splitlines` also breaks at.
_OTHER_BREAKS = ("\x0b", "\x0c", "\x1c", "\x1d", "\x1e")
_OTHER_WIDE_BREAKS = ("\x85", "\u2028", "\u2029")
_SHALLOW: dict[int, re.Pattern] = {}  # indent -> a line break, then at most `indent` spaces and content


def _other_breaks(text: str) -> bool:
    """Whether `str.splitlines` breaks `text` at more than its `\n`s (a lone `\r`, `\x0c`, `\u2028`...)."""
    if any(b in text for b in _OTHER_BREAKS):
        return True
    if not text.isascii() and any(b in text for b in _OTHER_WIDE_BREAKS):
        return True
    return "\r" in text and text.count("\r") != text.count("\r\n")


def _lines(body: str, start: int, other: bool):
    """(where it starts, the line with its break) of `body`'s lines from `start` on, as
    `str.splitlines(keepends=True)` breaks them (`other`: `_other_breaks(body)`)."""
    if other:
        at = 0
        for line in body.splitlines(keepends=True):
            if at >= start:
                yield at, line
            at += len(line)
        return
    while start < len(body):
        end = body.find("\n", start) + 1 or len(body)
        yield start, body[start:end]
        start = end


def _shallow_lines(body: str, first: int, indent: int, other: bool):
    """(where it starts, the line) of `body`'s lines from the one at `first` on that start with at most
    `indent` spaces: every other line is blank, a comment, or deeper content. Found by searching from
    the line breaks, when `\n` is the only one (`\r\n` too), else every line."""
    if other:
        yield from _lines(body, first, other)
        return
    end = body.find("\n", first) + 1 or len(body)
    yield first, body[first:end]
    if end >= len(body):
        return  # `first` is the last line
    pattern = _SHALLOW.get(indent)
    if pattern is None:
        pattern = _SHALLOW[indent] = re.compile(f"\n {{0,{indent}}}[^ \n]")
    for match in pattern.finditer(body, end - 1):  # from the break that ends `first`
        at = match.start() + 1
        yield at, body[at : body.find("\n", at) + 1 or len(body)]


def has_markers(text: str) -> bool:
    """Whether a line of `text` starts with a document marker or a directive (`---`, `...`, `%`)."""
    return text.startswith(("---", "...", "%")) or "\n---" in text or "\n..." in text or "\n%" in text


def split_blocks(text: str) -> list[str] | None:
    """The top-level blocks of `text`, or None when it cannot be split safely."""
    starts = [m.start() + 1 for m in _ENTRY.finditer(text)]
    if text[:1] and not text[0].isspace() and text[0] != "#":
        starts.insert(0, 0)
    if not starts or _COMMENTS.fullmatch(text, 0, starts[0]) is None:
        return None
    first = text[starts[0] : starts[0] + 2]
    if first[0] in "[{?|>!@`" or text.startswith("-", starts[0]) and first not in ("- ", "-\n"):
        return None
    if first[0] == "-":  # a top-level list: every entry is an item
        if any(text[s : s + 2] not in ("- ", "-\n", "-\r") for s in starts):
            return None
    else:  # a top-level mapping: a `- ` line at column 0 is an indentless list in the entry above
        starts = [s for s in starts if text[s] != "-"]
        if any(text[s] in "[{?|>!@`" for s in starts):
            return None
    ends = [*starts[1:], len(text)]
    return [text[a:b] for a, b in zip(starts, ends, strict=True)]
