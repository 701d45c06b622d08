"""Reading a large input without the cyclic garbage collector: a source builds millions of fresh objects
that never form cycles (decoded event lines, parsed config versions), and the collector would only scan
them again and again while they are built (more than half of an event-log read, measured)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def without_cyclic_gc() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
