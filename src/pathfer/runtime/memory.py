"""Keep freed memory in the process, so training steps stop paying for page faults.

glibc's ``malloc`` hands large blocks back to the kernel when they are freed: every block
above the mmap threshold (128 KiB at start) is its own ``mmap``, and the top of the heap
is trimmed once more than 128 KiB of it is free. A CPU training step allocates and frees
activations of megabytes, many times per step, so each step's memory is page-faulted and
zeroed by the kernel afresh: on this project's 48 px PathNet that is a fifth to a third of
the step (``benchmarks/bench_allocator.py`` measures it side by side), more on a busy
machine, where the faults of several processes contend.

:func:`keep_freed_memory` raises both thresholds with ``mallopt`` (the documented knobs of
``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_``), so freed blocks are reused. The
process keeps up to :data:`TRIM_THRESHOLD` of freed memory it would otherwise have returned.
It changes no number a computation produces, only where its memory comes from. On other
C libraries or platforms it does nothing and says so (returns ``False``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

#: blocks up to this size come from the heap (glibc's maximum: 32 MiB on 64-bit)
MMAP_THRESHOLD = 32 * 1024 * 1024
#: free memory at the top of the heap kept for reuse before it is returned to the kernel
TRIM_THRESHOLD = 512 * 1024 * 1024
#: extra heap requested each time the heap grows
TOP_PAD = 64 * 1024 * 1024

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_applied = False


def keep_freed_memory() -> bool:
    """Tune glibc's allocator of this process (once); ``True`` if it applied."""
    global _applied
    if _applied:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
        # glibc only: musl has no mallopt knobs worth setting (and returns 0 for them)
        libc.gnu_get_libc_version  # noqa: B018 - raises AttributeError off glibc
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    _applied = all(
        mallopt(param, value) == 1
        for param, value in (
            (_M_MMAP_THRESHOLD, MMAP_THRESHOLD),
            (_M_TRIM_THRESHOLD, TRIM_THRESHOLD),
            (_M_TOP_PAD, TOP_PAD),
        )
    )
    return _applied
