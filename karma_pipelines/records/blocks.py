"""A table built row by row, a block of rows at a time, each block a frame of the table's dtypes: kept in
memory, or written to a file of its own as it is made (a forked worker's rows, sent back as the files'
paths: a worker holds one block, not its rows whole and their pickled copy)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pandas as pd

from karma_pipelines.contracts.schema import Table


class Blocks:
    """Rows appended one by one, kept as one list per column for `BLOCK` rows at a time; each full block
    becomes a frame of the table's dtypes (strings in Arrow buffers, not a Python object per cell), so a
    million rows are never a million dicts' worth of Python objects. With `spool` (a folder, made when
    the first block is written), each frame is written there at once (`read_block` reads it back)."""

    BLOCK = 1 << 16

    def __init__(self, table: Table, spool: Path | None = None) -> None:
        self._dtypes = {c.name: c.dtype for c in table.columns}
        self._name = table.name
        self._spool = spool
        self._columns: dict[str, list] = {}
        self._blocks: list[pd.DataFrame | Path] = []
        self._rows = 0

    def append(self, row: dict) -> None:
        """Add `row` (every row has the first row's keys)."""
        columns = self._columns
        if not columns:
            columns.update((key, []) for key in row)
        for key, value in row.items():
            columns[key].append(value)
        self._rows += 1
        if self._rows == self.BLOCK:
            self._flush()

    def _flush(self) -> None:
        if not self._rows:
            return
        typed = {k: pd.Series(v, dtype=self._dtypes.get(k, "object")) for k, v in self._columns.items()}
        frame = pd.DataFrame(typed)
        self._columns.clear()
        self._rows = 0
        if self._spool is None:
            self._blocks.append(frame)
            return
        self._spool.mkdir(parents=True, exist_ok=True)
        path = self._spool / f"{self._name}-{len(self._blocks):05d}.pickle"
        with path.open("wb") as file:
            pickle.dump(frame, file, protocol=pickle.HIGHEST_PROTOCOL)
        self._blocks.append(path)

    def frames(self) -> list[pd.DataFrame | Path]:
        """Every row appended, in blocks of `BLOCK` rows (none when there is no row), each a frame or the
        file it was written to: not joined here (a worker sends its blocks back without a joined copy)."""
        self._flush()
        blocks, self._blocks = self._blocks, []
        return blocks


def read_block(block: pd.DataFrame | Path) -> pd.DataFrame:
    """A block's frame: as it is, or read from its file (then removed)."""
    if not isinstance(block, Path):
        return block
    with block.open("rb") as file:
        frame = pickle.load(file)  # noqa: S301 (a file this run's own worker wrote, in its own folder)
    block.unlink()
    return frame
