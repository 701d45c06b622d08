"""Lines added and removed between two versions of a file, as `git diff --numstat` counts them.

Git's Myers diff finds a shortest edit script, so its counts are `len(new) - LCS` and
`len(old) - LCS`. Lines are split on `\\n` only and a last line without a newline differs from the
same line with one (git prints `\\ No newline at end of file` and counts the line as changed).
"""

from __future__ import annotations

import difflib

_NO_EOL = b"\x00<no newline at end of file>"
_MAX_WORK = 20_000_000  # above this many steps, fall back to difflib (rare: a rewritten large file)


def split_lines(data: bytes) -> list[bytes]:
    if not data:
        return []
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    else:
        lines[-1] += _NO_EOL
    return lines


def count_changed_lines(old: list[bytes], new: list[bytes]) -> tuple[int, int]:
    """(added, removed) between two files given as `split_lines` lists."""
    if not old or not new:
        return len(new), len(old)
    lo, hi_old, hi_new = 0, len(old), len(new)
    while lo < hi_old and lo < hi_new and old[lo] == new[lo]:
        lo += 1
    while hi_old > lo and hi_new > lo and old[hi_old - 1] == new[hi_new - 1]:
        hi_old -= 1
        hi_new -= 1
    a, b = old[lo:hi_old], new[lo:hi_new]
    if not a or not b:
        return len(b), len(a)
    common = _lcs_length(a, b)
    return len(b) - common, len(a) - common


def _lcs_length(a: list[bytes], b: list[bytes]) -> int:
    """Longest common subsequence via Myers' O(ND) shortest edit script (D = insertions + deletions)."""
    n, m = len(a), len(b)
    ids: dict[bytes, int] = {}
    xs = [ids.setdefault(line, len(ids)) for line in a]
    ys = [ids.setdefault(line, len(ids)) for line in b]
    offset = n + m + 1
    v = [0] * (2 * offset + 1)
    for d in range(n + m + 1):
        if d * (n + m) > _MAX_WORK:
            blocks = difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks()
            return sum(block.size for block in blocks)
        for k in range(-d, d + 1, 2):
            if k == -d or (k != d and v[offset + k - 1] < v[offset + k + 1]):
                x = v[offset + k + 1]
            else:
                x = v[offset + k - 1] + 1
            y = x - k
            while x < n and y < m and xs[x] == ys[y]:
                x += 1
                y += 1
            v[offset + k] = x
            if x >= n and y >= m:
                return (n + m - d) // 2
    raise AssertionError("unreachable: D never exceeds n + m")
