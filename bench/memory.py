"""Memory of a worker and its children (the prefork pool, or none for gevent and threads).

Linux only: reads ``/proc``. RSS counts every page a process maps, so pages shared between a
prefork parent and its forked children are counted once per process; PSS divides each shared
page among the processes sharing it, so the PSS of a process tree adds up to the memory it really
takes. Both come from ``/proc/<pid>/smaps_rollup`` (Linux 4.14+) and are summed over ``pid`` and
all its descendants, looked up again at every sample (a prefork pool replaces children).

Give the PID of the worker's main process. ``bench/common.py``'s ``worker_start`` runs the
compose command (``celery … worker``) directly, so ``worker.popen.pid`` is the celery main
process; were it a shell wrapper, its celery child would be in the tree and counted too (the
shell adds about a megabyte).

    from memory import MemorySampler, memory_now

    idle = memory_now(pid)                  # MemoryUsage(rss_mib, pss_mib, processes)
    sampler = MemorySampler(pid).start()    # samples every 0.2 s in a daemon thread
    ...                                     # the phase under load
    peak = sampler.stop()                   # MemoryPeak(rss_mib, pss_mib, samples)

    with MemorySampler(pid) as sampler:     # the same, as a context manager
        ...
    peak = sampler.peak

``cpu_seconds(pid)`` is the CPU time the same tree has used: take it before and after a phase.

The RSS and PSS peaks are the highest sums seen, each on its own (they may come from different
samples). A sample costs a walk of ``/proc/*/stat`` and one ``smaps_rollup`` read per process
(the kernel walks each process's page tables: about a millisecond per 100 MiB), so keep the
interval at 0.1 s or more on a busy machine.
"""

from __future__ import annotations

import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType

PROC = Path("/proc")
KIB_PER_MIB = 1024


class _Figures:
    def as_dict(self) -> dict[str, float]:
        """The fields, rounded to 0.1 MiB (for JSON)."""
        return {k: round(v, 1) for k, v in asdict(self).items()}  # type: ignore[call-overload]


@dataclass(frozen=True)
class MemoryUsage(_Figures):
    """One sample: RSS and PSS summed over ``processes`` processes, in MiB."""

    rss_mib: float
    pss_mib: float
    processes: int


@dataclass(frozen=True)
class MemoryPeak(_Figures):
    """The highest RSS and PSS sums over ``samples`` samples, in MiB."""

    rss_mib: float
    pss_mib: float
    samples: int


def _parent(pid: int) -> int | None:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:  # gone, or not ours to read
        return None
    # pid (comm) state ppid …; comm may hold spaces and parentheses, so split after the last ")".
    return int(stat.rsplit(")", 1)[1].split()[1])


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants alive now (``pid`` first)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir(PROC):
        if entry.name.isdigit():
            parent = _parent(int(entry.name))
            if parent is not None:
                children.setdefault(parent, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, ()))
    return tree


def _rollup_kib(pid: int) -> tuple[int, int] | None:
    """(RSS, PSS) of one process in KiB, or None if it is gone."""
    try:
        text = (PROC / str(pid) / "smaps_rollup").read_text()
    except OSError:
        return None
    rss = pss = 0
    for line in text.splitlines():
        if line.startswith("Rss:"):
            rss = int(line.split()[1])
        elif line.startswith("Pss:"):
            pss = int(line.split()[1])
    return rss, pss


def memory_now(pid: int) -> MemoryUsage:
    """RSS and PSS of ``pid`` and its descendants now, summed."""
    rss = pss = processes = 0
    for member in process_tree(pid):
        sample = _rollup_kib(member)
        if sample is not None:
            rss, pss, processes = rss + sample[0], pss + sample[1], processes + 1
    if not processes:
        raise ProcessLookupError(f"no process {pid} (or /proc/{pid}/smaps_rollup unreadable)")
    return MemoryUsage(rss / KIB_PER_MIB, pss / KIB_PER_MIB, processes)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds used so far by ``pid`` and its live descendants, with what
    their reaped children used (``cutime``, ``cstime``). The difference over a phase is the CPU
    the worker spent on it, whatever else runs on the machine."""
    ticks = 0
    for member in process_tree(pid):
        try:
            stat = (PROC / str(member) / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        ticks += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


class MemorySampler:
    """Samples ``memory_now(pid)`` every ``interval`` seconds in a daemon thread between
    ``start()`` and ``stop()``, keeping the peaks. One sample is taken at each end, so even a
    phase shorter than the interval has two."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.pid = pid
        self.interval = interval
        self._rss = self._pss = 0.0
        self._samples = 0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.peak: MemoryPeak | None = None

    def _sample(self) -> None:
        try:
            usage = memory_now(self.pid)
        except ProcessLookupError:
            return  # the worker went away; keep what was seen
        self._rss, self._pss = max(self._rss, usage.rss_mib), max(self._pss, usage.pss_mib)
        self._samples += 1

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            self._sample()

    def start(self) -> MemorySampler:
        if self._thread is not None:
            raise RuntimeError("a MemorySampler starts once")
        self._sample()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> MemoryPeak:
        if self._thread is None:
            raise RuntimeError("the MemorySampler was not started")
        self._stopping.set()
        self._thread.join()
        self._sample()
        self.peak = MemoryPeak(self._rss, self._pss, self._samples)
        return self.peak

    def __enter__(self) -> MemorySampler:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
