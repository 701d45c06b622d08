"""Process groups of the UI servers, through psutil: who is in a group, and signalling it."""

from __future__ import annotations

import contextlib
import os

import psutil

from karma_pipelines.tracking.liveness import start_time

__all__ = ["group_members", "our_group_members", "signal_group", "start_time"]

_GONE = (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group."""
    members = []
    for proc in psutil.process_iter(["status"]):
        if proc.info["status"] in _GONE:
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getpgid(proc.pid) == pgid:
                members.append(proc.pid)
    return members


def our_group_members(pgid: int, leader_start: str) -> list[int]:
    """Members of a server's group, unless its id now belongs to another process's group.

    A pid is not reused while a process group still holds it, so members without a leader are ours;
    with a leader, it must be the one that was started (same start time)."""
    leader = start_time(pgid)
    if leader is not None and leader != leader_start:
        return []
    return group_members(pgid)


def signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
