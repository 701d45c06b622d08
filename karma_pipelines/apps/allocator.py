"""Where a command's Arrow buffers come from: the system's allocator (malloc), not pyarrow's bundled
mimalloc, which keeps the memory it is given back for later buffers. A command builds and lets go of
large string columns one after another (the deploy tables of a million deploys, put together from the
workers' parts), so freed memory should go back to the system: the 100k world's deploy tables peak at
897 MiB against 942 MiB, and end at 817 MiB against 918 MiB."""

from __future__ import annotations


def use_system_allocator() -> None:
    """Every Arrow buffer allocated from now on (pandas' pyarrow strings too) by the system's allocator;
    this process's forks inherit it."""
    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())
