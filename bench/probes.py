"""Process probes for the benchmarks: RSS sampling, peak-RSS reset, CPU seconds of processes and children."""

from __future__ import annotations

import ctypes
import os
import resource
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

MIB = 1024 * 1024
_CLK_TCK = os.sysconf("SC_CLK_TCK")


def _status_kb(field_name: str) -> int:
    """One ``kB`` field of /proc/self/status (``VmRSS``, ``VmHWM``); 0 if absent."""
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    return 0


def rss_mb() -> float:
    return _status_kb("VmRSS") / 1024


def hwm_mb() -> float:
    """The process RSS high-water mark (since start or since the last :func:`reset_hwm`)."""
    return _status_kb("VmHWM") / 1024


def reset_hwm() -> bool:
    """Reset VmHWM to the current RSS (``echo 5 > /proc/self/clear_refs``); False where not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5", encoding="ascii")
    except OSError:
        return False
    return True


def children_cpu_s() -> float:
    """User + system CPU seconds of this process's terminated, waited-for children (and theirs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def self_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def reaped_children_cpu_s(pid: int) -> float | None:
    """cutime + cstime of ``pid``: CPU of the children it has reaped (postmaster: backends; sshd: sessions)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # fields[0] is field 3 (state) of proc(5)
    return (int(fields[13]) + int(fields[14])) / _CLK_TCK


def pid_from_file(path: Path) -> int | None:
    try:
        return int(path.read_text(encoding="ascii").split()[0])
    except (OSError, ValueError, IndexError):
        return None


@dataclass
class RssSampler:
    """Samples this process's VmRSS every ``interval_s`` in a daemon thread: (wall clock, MiB) pairs."""

    interval_s: float = 0.05
    samples: list[tuple[float, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RssSampler:
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), rss_mb()))
            self._stop.wait(self.interval_s)

    def peak(self, start: float, end: float) -> float:
        """Highest sample taken in [start, end] (wall clock); 0 when none."""
        return max((mb for at, mb in self.samples if start <= at <= end), default=0.0)


def malloc_trim() -> bool:
    """Give freed heap memory back to the OS (glibc), so a baseline is not inflated by earlier runs."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return bool(libc.malloc_trim(0))
