"""Peak resident memory of one call, from the Linux kernel's own high-water mark.

tracemalloc would miss PyTorch's tensors (they come from its C++ allocator,
not Python's), and ``getrusage``'s ``ru_maxrss`` only ever grows over the
process's life. Instead the kernel's peak-RSS counter (``VmHWM``) is reset to
the current RSS before the call (``echo 5 > /proc/self/clear_refs``, Linux
>= 4.0) and read afterwards.

What the number means: the largest *additional* resident memory, in MiB,
that the process held at any moment of the call beyond what it held when
the call started. Memory the allocator kept from earlier work and reused is
not counted (it was already resident), so it is a lower bound on what the
call would need in a fresh process; it counts every thread of the process.
Unavailable (None) where ``/proc/self/clear_refs`` cannot be written.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

_STATUS = "/proc/self/status"
_CLEAR_REFS = "/proc/self/clear_refs"


def _status_kib(field: str) -> int:
    with open(_STATUS, encoding="ascii") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"{_STATUS} has no {field} line")


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
    supported = _reset_peak()
    start = _status_kib("VmRSS") if supported else 0
    try:
        yield result
    finally:
        if supported:
            result.mib = max(0, _status_kib("VmHWM") - start) / 1024.0
