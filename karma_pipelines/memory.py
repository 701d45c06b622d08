"""Freed memory given back to the system. CPython returns a freed object's memory to the C heap, and glibc
keeps a heap's free pages for later allocations: a process that lets go of gigabytes of small objects
(deploy inputs, once forked workers have their copy) keeps its RSS, and the large buffers it allocates
next (Arrow columns, mapped afresh) come on top of it."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


def release_freed_memory() -> bool:
    """glibc's `malloc_trim(0)`: the heap's wholly free pages back to the system; False where the C
    library has no `malloc_trim` (not glibc), and nothing is done."""
    trim = _malloc_trim()
    return bool(trim and trim(0) is not None)


@functools.cache
def _malloc_trim():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim
