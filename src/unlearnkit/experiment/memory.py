"""Peak resident memory of one call, from the Linux kernel's own high-water mark.

tracemalloc would miss PyTorch's tensors (they come from its C++ allocator,
not Python's), and ``getrusage``'s ``ru_maxrss`` only ever grows over the
process's life. Instead the kernel's peak-RSS counter (``VmHWM``) is reset to
the current RSS before the call (``echo 5 > /proc/self/clear_refs``, Linux
>= 4.0) and read afterwards.

What the number means: the largest *additional* resident memory, in MiB,
that the process held at any moment of the call beyond what it held when
the call started; it counts every thread of the process. Before the
baseline is read, glibc's ``malloc_trim(0)`` hands freed heap pages back to
the system, because otherwise memory freed by earlier work (kept by the
allocator, still resident) would be reused without showing up and most
calls after the first would read 0. Where glibc is absent the number is a
lower bound for that reason. Unavailable (None) where
``/proc/self/clear_refs`` cannot be written.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache

_STATUS = "/proc/self/status"
_CLEAR_REFS = "/proc/self/clear_refs"


def _status_kib(field: str) -> int:
    with open(_STATUS, encoding="ascii") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"{_STATUS} has no {field} line")


@cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None


def _release_freed_memory() -> None:
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def _reset_peak() -> bool:
    try:
        with open(_CLEAR_REFS, "w", encoding="ascii") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


@dataclass
class PeakMemory:
    """Filled in by :func:`measure_peak_memory`: extra peak RSS in MiB, or None if not measurable."""

    mib: float | None = None


@contextmanager
def measure_peak_memory() -> Iterator[PeakMemory]:
    """``with measure_peak_memory() as peak: ...``; afterwards ``peak.mib`` holds the measurement."""
    result = PeakMemory()
    _release_freed_memory()
    supported = _reset_peak()
    start = _status_kib("VmRSS") if supported else 0
    try:
        yield result
    finally:
        if supported:
            result.mib = max(0, _status_kib("VmHWM") - start) / 1024.0
