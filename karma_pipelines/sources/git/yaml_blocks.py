"""A big YAML file read version after version, parsing only its top-level blocks that changed.

A GitOps history changes the same big files again and again (openstack/project-config's 390 kB
`gerrit/projects.yaml` in thousands of commits, govuk-helm-charts' 140 kB `values-<env>.yaml`), one
or two top-level entries at a time; parsing each version whole is most of the extraction's time.
`BlockCache.load` splits a text at its top-level entries (a line that starts at column 0 with a key,
or with `- ` in a top-level list) and parses each block once: the document is the blocks' values
joined, in order (a later duplicate key wins, as in a whole parse).

Anchors and aliases: a block that uses an alias (`*x`, `<<: *x`) is parsed after the blocks that
define the anchors it names (the last definition before it, and what those blocks' own aliases need),
in order, so that every alias names the anchor a whole parse would give it. An anchor defined again
is the latest definition from there on (YAML 1.2, as Helm reads values), for blocks and whole parses alike.
The blocks are the same document as a whole parse only when: the text has no document marker or
directive (`---`, `...`, `%`), nothing but comments before its first entry, no flow collection or
explicit key at the top, every entry of the same kind, each block one key (or one list item), and no
more than `MAX_NODES` values in all. Otherwise (or when a block does not parse, so that the error names
the whole file's line) `load` returns None and the caller parses the text whole.

A big entry's own entries (`_nested`) that are new to the cache are parsed together, in one text, when
they need the same anchor-defining entries (a file's first version: all of them; a promotion: several),
each kept exactly as its own parse would make it (`_parse_together`).
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from karma_pipelines.sources.git.yaml_construct import load
from karma_pipelines.sources.git.yaml_split import has_markers, split_blocks, split_nested

# `&name` and `*name` at the start of the text or after whitespace, `[`, `{` or `,` (see `_names`): the
# anchors (or look-alikes) and aliases. Searched from the literal `&`/`*` (a pattern that starts with the
# preceding character is tried at every position of the text: 200 times slower on a 130 kB block).
_ANCHOR = re.compile(r"&([^\s,\[\]{}]+)")
_ALIAS = re.compile(r"\*([^\s,\[\]{}]+)")
MIN_BYTES = 16 << 10  # a smaller text is parsed whole: splitting it would save little
# Fewer top-level entries: parsed whole (govuk's values-<env>.yaml has 18, one of them most of the
# file, changed in every version: splitting it saves nothing and its aliases cost a second parse).
MIN_BLOCKS = 32
MAX_BLOCKS = 200_000  # the cache is emptied when it holds more
MAX_CONTEXT = 64 << 10  # anchor-defining blocks beyond this: parsed whole (splitting saves nothing)


class BlockCache:
    """Parsed top-level blocks by their text, shared by every version of every file of one run."""

    def __init__(self, loader: type, string_keys, redefining: type | None = None) -> None:
        self._loader = loader
        self._redefining = redefining or loader  # for a context and block that define an anchor again
        self._string_keys = string_keys  # (value, budget) -> the value with string keys
        self._blocks: dict[str, Any] = {}
        self._anchors: dict[str, tuple[frozenset[str], tuple[str, ...]]] = {}

    def load(self, text: str, max_nodes: int) -> Any | None:
        """The document of `text`, from its blocks; None when it must be parsed whole."""
        if len(text) < MIN_BYTES or has_markers(text):
            return None
        blocks = split_blocks(text)
        if blocks is None:
            return None
        is_list = blocks[0].startswith("-")
        few = len(blocks) < MIN_BLOCKS  # then only a big entry is worth splitting, at its own level
        if few and (is_list or all(len(block) < MIN_BYTES for block in blocks)):
            return None
        if len(self._blocks) > MAX_BLOCKS:
            self._blocks.clear()
        values, nodes = [], 1  # the top-level list or mapping itself
        for block, needed, context in self._with_contexts(blocks):
            before = len(needed)
            if len(context) > MAX_CONTEXT:
                return None
            key = (context, block)
            found = self._blocks.get(key)
            if found is None and few and len(block) >= MIN_BYTES:
                # not kept whole: it is the part that changes (its entries are kept)
                found = self._nested(context, before, block, max_nodes)
            if found is None:
                found = self._parse(context, before, block, is_list, max_nodes)
                if found is None:
                    return None
                self._blocks[key] = found
            value, count = found
            nodes += count
            if nodes > max_nodes:
                return None
            values.append(value)
        if is_list:
            return values
        doc: dict[str, Any] = {}
        for value in values:
            doc.update(value)
        return doc

    def _with_contexts(self, blocks: list[str]):
        """Each block with the blocks before it that define the anchors it uses (the last definition
        before it, and what those blocks' own aliases need): (block, their indices in order, their
        text)."""
        definer: dict[str, int] = {}  # anchor name -> the last block so far that defines it
        aliases: list[frozenset[str]] = []  # per block: the anchor names it uses
        for i, block in enumerate(blocks):
            used, defined = self._names(block)
            aliases.append(used)
            needed = tuple(sorted(self._needed(used, definer, aliases))) if used else ()
            yield block, needed, "".join(blocks[j] for j in needed) if needed else ""
            for name in defined:
                definer[name] = i

    def _names(self, block: str) -> tuple[frozenset[str], tuple[str, ...]]:
        """(the anchor names a block's aliases use, the anchors it defines in order), once per text."""
        found = self._anchors.get(block)
        if found is None:
            if len(self._anchors) > MAX_BLOCKS:
                self._anchors.clear()
            found = self._anchors[block] = (
                frozenset(_properties(_ALIAS, block)),
                tuple(_properties(_ANCHOR, block)),
            )
        return found

    @staticmethod
    def _needed(used: frozenset[str], definer: dict[str, int], aliases: list[frozenset[str]]) -> set[int]:
        """The blocks that define the anchors `used` names, and those their own aliases need."""
        needed: set[int] = set()
        todo = [definer[name] for name in used if name in definer]
        while todo:
            j = todo.pop()
            if j not in needed:
                needed.add(j)
                todo += [definer[name] for name in aliases[j] if name in definer and definer[name] < j]
        return needed

    def _parse(self, context: str, before: int, block: str, is_list: bool, max_nodes: int):
        """(the block's value: its one list item, or its one-key mapping; its node count), or None.
        `context` is the `before` anchor-defining blocks it is parsed after."""
        try:
            try:
                value = load(context + block, self._loader)
            except yaml.composer.ComposerError:
                value = load(context + block, self._redefining)
        except (yaml.YAMLError, RecursionError):
            return None
        if not isinstance(value, list if is_list else dict) or len(value) != before + 1:
            return None  # not one entry more than the context (a duplicate key, or no single entry)
        budget = [max_nodes]
        try:
            if is_list:
                return self._string_keys(value[-1], budget), max_nodes - budget[0]
            last = next(reversed(value))
            entry = self._string_keys({last: value[last]}, budget)
        except (ValueError, RecursionError):
            return None  # over the budget or nested too deeply: the whole parse says which
        return entry, max_nodes - budget[0] - 1  # the mapping around the entry is not a node

    def _nested(self, context: str, before: int, block: str, max_nodes: int):
        """A big top-level entry (`key:` alone on its line) of a text of few entries, from its own
        entries (the items of its list, or the keys of its mapping), each parsed once as `key:` and that
        entry, after `context` and the entries before it that define the anchors it uses (as at the top
        level); None when it cannot be split so (then it is parsed whole)."""
        header, _, body = block.partition("\n")
        if not _HEADER.fullmatch(header):
            return None
        split = split_nested(body)
        if split is None or len(split[1]) < MIN_BLOCKS:
            return None
        is_list, entries = split
        items = list(self._with_contexts(entries))
        self._parse_together(context, before, header, entries, items, max_nodes)
        value: Any = [] if is_list else {}
        nodes, name = 1, None
        for entry, needed, inner_context in items:
            inner_before = len(needed)
            if len(inner_context) > MAX_CONTEXT:
                return None
            key = (context, header, inner_context, entry)
            found = self._blocks.get(key)
            if found is None:
                text = f"{header}\n{inner_context}{entry}"
                found = self._parse(context, before, text, False, max_nodes)
                if found is None:
                    return None
                self._blocks[key] = found
            wrapped, count = found
            ((name, inner),) = wrapped.items()
            nodes += count
            if nodes > max_nodes or not isinstance(inner, list if is_list else dict):
                return None
            if len(inner) != inner_before + 1:
                return None  # not one entry more than its context (a duplicate key)
            if is_list:
                value.append(inner[-1])
            else:
                last = next(reversed(inner))
                value[last] = inner[last]
        return {name: value}, nodes

    def _parse_together(self, context: str, before: int, header: str, entries: list[str], items, max_nodes):
        """The nested entries `_nested` would parse one at a time (not in the cache yet) that share their
        anchor-defining entries, parsed in one text (a run of them, see `_runs`): `context`, `header`,
        those entries, then each of the run in order; each kept as its own parse would make it (the
        same value and node count).

        The same as one at a time because each entry's own text is that text without the rest of the
        run, which defines no anchor the shared part or another of the run defines (an entry's aliases
        then name the same nodes: one that names an anchor of another of the run would have it among its
        own anchor-defining entries), and adds one key each (else nothing is kept here)."""
        groups: dict[tuple[int, ...], list[str]] = {}
        for entry, needed, inner_context in items:
            if len(inner_context) > MAX_CONTEXT:
                break  # `_nested` stops there
            if (context, header, inner_context, entry) not in self._blocks:
                group = groups.setdefault(needed, [])
                if entry not in group:
                    group.append(entry)
        for needed, group in groups.items():
            shared = "".join(entries[j] for j in needed)
            for run in self._runs(context, [entries[j] for j in needed], group) if len(group) > 1 else ():
                try:
                    text = f"{context}{header}\n{shared}{''.join(run)}"
                    try:
                        value = load(text, self._loader)
                    except yaml.composer.ComposerError:
                        value = load(text, self._redefining)
                except (yaml.YAMLError, RecursionError):
                    continue
                if not isinstance(value, dict) or len(value) != before + 1:
                    continue
                name = next(reversed(value))
                inner = value[name]
                if not isinstance(inner, list | dict) or len(inner) != len(needed) + len(run):
                    continue  # an entry that is not one key (or list item) more: each parsed alone
                parts = list(inner.items()) if isinstance(inner, dict) else inner
                for k, entry in enumerate(run, len(needed)):
                    one = [*parts[: len(needed)], parts[k]]
                    budget = [max_nodes]
                    try:  # as its own parse has it
                        wrapped = self._string_keys(
                            {name: dict(one) if isinstance(inner, dict) else one}, budget
                        )
                    except (ValueError, RecursionError):
                        continue  # its own parse says so
                    self._blocks[(context, header, shared, entry)] = (wrapped, max_nodes - budget[0] - 1)

    def _runs(self, context: str, shared: list[str], group: list[str]) -> list[list[str]]:
        """`group` cut into runs (of two entries or more) whose entries each define their anchors once,
        none of which `context`, `shared` or another entry of the run defines (an entry that defines an
        anchor again itself, or one of `context`'s or `shared`'s, is parsed alone)."""
        taken = set(_properties(_ANCHOR, context))
        for block in shared:
            taken.update(self._names(block)[1])
        runs: list[list[str]] = [[]]
        seen = set(taken)
        for entry in group:
            defined = self._names(entry)[1]
            if len(set(defined)) != len(defined) or not taken.isdisjoint(defined):
                runs.append([])  # alone
                seen = set(taken)
                continue
            if not seen.isdisjoint(defined):
                runs.append([])
                seen = set(taken)
            runs[-1].append(entry)
            seen.update(defined)
        return [run for run in runs if len(run) > 1]


def _properties(pattern: re.Pattern, text: str) -> list[str]:
    """The names `pattern` finds where a node's anchor or alias can start (not inside a plain word)."""
    return [m[1] for m in pattern.finditer(text) if m.start() == 0 or _before_property(text[m.start() - 1])]


def _before_property(char: str) -> bool:
    return char.isspace() or char in "[{,"


_HEADER = re.compile(r"[^\s#\-?&*!|>'\"%@`{\[][^\n]*?:[ \t]*(?:#[^\n]*)?\r?")  # `key:` and nothing else
