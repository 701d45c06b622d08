"""A changed file's new version: its blob read, parsed and redacted once per content.

A history writes the same content again and again: a revert restores the version before, and a
promotion copies one environment's file to the next (govuk-helm-charts' image tags: two of every
three blobs were read before under another path). The document a blob gives depends only on its bytes
and on which parser its name picks (`parse.parser_of`), so the recently read contents are kept by
`(blob, parser)`: a blob seen again is neither asked of git nor parsed. A content that is no document
keeps its quarantine reason, which names the path it was read under: `kind(path)...`, said again for
the new path.

Which blobs to ask git for is decided when `git log` names them, ahead of their use (`plan`); `load`
makes the same decisions in the same order, so the blobs asked for are exactly those it reads.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from karma_pipelines.contracts.config_fields import CONFIG_HASH_LENGTH, parsed_compact_json
from karma_pipelines.contracts.entry_memo import EntryMemo
from karma_pipelines.contracts.redaction import redact, redact_entries
from karma_pipelines.sources.git.blobs import Blob, BlobReader
from karma_pipelines.sources.git.layout import path_text
from karma_pipelines.sources.git.log import Change
from karma_pipelines.sources.git.parse import SYMLINK_MODE, Parsed, block_cache, parse_blob, parser_of
from karma_pipelines.sources.git.state import content_key, text_key

RECENT = 4096  # contents kept (the least recently written go first)
_ABSENT = object()


class _Recent:
    """The last `size` keys used, with a value each (least recently used dropped first)."""

    def __init__(self, size: int | None = None):
        self.size = RECENT if size is None else size
        self._items: OrderedDict[Any, Any] = OrderedDict()

    def get(self, key: Any) -> Any:
        found = self._items.get(key, _ABSENT)
        if found is not _ABSENT:
            self._items.move_to_end(key)
        return found

    def put(self, key: Any, value: Any) -> None:
        self._items[key] = value
        if len(self._items) > self.size:
            self._items.popitem(last=False)


def _key(change: Change) -> tuple[str, str]:
    return change.new_blob, parser_of(path_text(change.path))


def _failed(blob: Blob, parsed: Parsed, path: str) -> tuple[int, None, tuple]:
    """What is kept of a content that is no document: its reason around the path (`kind(path)rest`),
    or (a reason of another shape) the blob itself, to parse again."""
    kind, named, rest = parsed.reason.partition(f"({path})")
    return blob.size, None, ((kind, rest) if named else (None, (blob.sha, blob.size, blob.data)))


class FileVersions:
    """Parsed versions of the files of one pass over a history (see the module's docstring)."""

    def __init__(self, max_file_bytes: int):
        self.max_file_bytes = max_file_bytes
        self.blocks = block_cache()  # big YAML files: each top-level block parsed once
        self.entries = EntryMemo()  # redacted and flattened entries, once per entry object
        self._planned = _Recent()  # the keys as `plan` saw them
        self._loaded = _Recent()  # the same keys as `load` sees them, with what was made of them
        self._texts = _Recent(64)  # id(document) -> (document, compact JSON, raw key): `snapshot_text`

    def plan(self, changes: Iterable[Change]) -> list[str]:
        """The blobs of `changes` to ask git for, in the order `load` will read them."""
        wanted = []
        for change in changes:
            if change.new_mode.startswith("100"):
                key = _key(change)
                if self._planned.get(key) is _ABSENT:
                    self._planned.put(key, True)
                    wanted.append(change.new_blob)
        return wanted

    def load(self, change: Change, blobs: BlobReader) -> tuple[Parsed, int | None]:
        """(the file's document or why it has none, the blob's size) for a change that writes a file."""
        path, mode = path_text(change.path), change.new_mode  # as reasons name it
        if not mode.startswith("100"):
            kind = "symlink" if mode == SYMLINK_MODE else "not_a_file"
            return Parsed(reason=f"{kind}({path})"), None
        key = _key(change)
        found = self._loaded.get(key)
        if found is _ABSENT:
            blob = blobs.next()
            if blob.sha != change.new_blob:
                raise AssertionError(f"blob stream out of step at {blob.sha} (wanted {change.new_blob})")
            parsed = self._parse(path, blob.sha, blob.size, blob.data)
            self._loaded.put(key, (blob.size, parsed, None) if parsed.ok else _failed(blob, parsed, path))
            return parsed, (blob.size if blob.size >= 0 else None)
        size, parsed, reason = found
        if parsed is None:  # the reason names the path: made again for this one
            kind, rest = reason
            parsed = Parsed(reason=f"{kind}({path}){rest}") if kind is not None else self._parse(path, *rest)
        return parsed, (size if size >= 0 else None)

    def _parse(self, path: str, sha: str, size: int, data: bytes | None) -> Parsed:
        if size < 0:
            return Parsed(reason=f"missing({path}): blob {sha} is not in the repository")
        parsed = parse_blob(path, data, size, self.max_file_bytes, self.blocks)
        if not parsed.ok:
            return parsed
        # Redacted where the source reads it: no later stage, nor the saved state, sees a secret; a
        # change of a secret alone is still a change: the key is the raw document's, not its value.
        # When redaction changed nothing and the text is ASCII without DEL (which `ensure_ascii`
        # escapes), the raw text is the snapshot's text too.
        if parsed.shared:
            doc = redact_entries(parsed.doc, self.entries)
            return Parsed(doc=doc, raw_key=content_key(parsed.doc, self.entries), shared=True)
        doc = redact(parsed.doc)
        text = parsed_compact_json(parsed.doc, ensure_ascii=False)
        raw_key = text_key(text)
        if doc == parsed.doc and text.isascii() and "\x7f" not in text:  # nothing redacted or escaped
            self._texts.put(id(doc), (doc, text, raw_key))  # with ensure_ascii: the same text
        return Parsed(doc=doc, raw_key=raw_key)

    def snapshot_text(self, doc: Any) -> tuple[str | None, str | None]:
        """(`compact_json(doc)`, its `config_hash`) of a document just read when they were made
        already (`_parse`: the same bytes, so the hash is the raw key's start), else (None, None)."""
        found = self._texts.get(id(doc))
        if found is _ABSENT or found[0] is not doc:
            return None, None
        return found[1], found[2][:CONFIG_HASH_LENGTH]
