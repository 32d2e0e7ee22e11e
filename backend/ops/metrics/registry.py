"""The registry a process serves, in prometheus_client's multiprocess mode where a process forks.

gunicorn's workers and prefork's children each count on their own; with
``PROMETHEUS_MULTIPROC_DIR`` set (the compose file sets it for web and worker-cpu) each writes its
samples to a file there and a scrape sums the files. The directory is cleared as the parent
starts (an earlier run's counts would add up), and a child that exits is marked dead.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, multiprocess, start_http_server
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> Path | None:
    value = os.environ.get(MULTIPROC_ENV, "")
    return Path(value) if value else None


def multiprocess_dir_create() -> None:
    directory = multiprocess_dir()
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)


def clear_multiprocess_dir() -> None:
    """Remove what processes of an earlier run wrote (a restarted container keeps its /tmp);
    this process's own files stay."""
    directory = multiprocess_dir()
    if directory is None:
        return
    directory.mkdir(parents=True, exist_ok=True)
    own = f"_{os.getpid()}.db"
    for path in directory.glob("*.db"):
        if not path.name.endswith(own):
            path.unlink(missing_ok=True)


def mark_dead(pid: int) -> None:
    """A child exited: its live gauges go (its counters stay in the sums, as counters must)."""
    if multiprocess_dir() is not None:
        multiprocess.mark_process_dead(pid)


class _ProcessSeries:
    """This process's own series (the default registry), for a process that does not fork."""

    def collect(self):  # type: ignore[no-untyped-def]
        return REGISTRY.collect()


def serving_registry(extra: Iterable[Collector] = ()) -> CollectorRegistry:
    """Every process's series (summed from the directory in multiprocess mode, else this
    process's own), then ``extra``: collectors read at scrape time."""
    registry = CollectorRegistry(auto_describe=False)
    directory = multiprocess_dir()
    if directory is None:
        registry.register(_ProcessSeries())
    else:
        directory.mkdir(parents=True, exist_ok=True)
        multiprocess.MultiProcessCollector(registry, path=str(directory))
    for collector in extra:
        registry.register(collector)
    return registry


def serve(port: int, *, process: str) -> None:
    """Serve ``/metrics`` on ``port`` from a thread of this process (a worker, beat)."""
    if not port:
        return
    try:
        start_http_server(port, registry=serving_registry())
    except OSError as exc:
        # Metrics are not worth a worker that does not consume: the worker goes on, loudly.
        logger.error("%s: could not serve metrics on METRICS_PORT=%s: %s", process, port, exc)
        return
    logger.info("%s: metrics on :%s/metrics", process, port)
