"""The core's metrics (ops.metrics) on real processes: gunicorn's workers summed in
multiprocess mode and an earlier run's counts cleared, tasks counted by outcome across prefork's
children, and the queue age growing while worker-io is stopped and falling back once it is up."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.conf import settings
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from config.env import is_redis_url
from devstack.redis_server import free_port
from ops.metrics.collectors import CoreCollector
from tests.stack import wait_until
from tests.worker_tasks import fail, retry_once, say

pytestmark = [pytest.mark.processes, pytest.mark.django_db(transaction=True)]

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(url: str) -> Samples:
    with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 (loopback)
        return parse(answer.read().decode())


def collected(collector: object) -> Samples:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)  # type: ignore[arg-type]
    return parse(generate_latest(registry).decode())


def get(url: str) -> int:
    # A new connection each time: the kernel hands them to either gunicorn worker.
    with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 (loopback)
        return int(answer.status)


def web(stack, port: int):
    process = stack.ensure("web", WEB_BIND=f"127.0.0.1:{port}", WEB_WORKERS="2", WEB_THREADS="1")
    wait_until(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), timeout=30)
    return process


def _answers(url: str) -> bool:
    try:
        return get(url) == 200
    except OSError:
        return False


def healthz_count(samples: Samples) -> float:
    key = ("web_requests_total", (("method", "GET"), ("status", "200"), ("view", "healthz")))
    return samples.get(key, 0)


def test_web_sums_its_workers_and_a_restart_starts_from_zero(stack):
    port = free_port()
    process = web(stack, port)
    directory = Path(process.env["PROMETHEUS_MULTIPROC_DIR"])
    base = f"http://127.0.0.1:{port}"
    # given 40 requests at once, each on its own connection, so both single-threaded gunicorn
    # workers take some
    with ThreadPoolExecutor(max_workers=20) as pool:
        assert set(pool.map(get, [f"{base}/healthz"] * 40)) == {200}
    # then whichever worker answers the scrape shows all of them (plus the readiness probes)
    counts = {healthz_count(scrape(f"{base}/metrics")) for _ in range(6)}
    assert len(counts) == 1
    assert counts.pop() >= 40
    assert len({path.stem.rsplit("_", 1)[1] for path in directory.glob("counter_*.db")}) == 2
    # and the scrape itself is never counted as a request
    assert not [k for k in scrape(f"{base}/metrics") if ("view", "<unresolved>") in k[1]]
    # when web restarts (the container's /tmp kept what the last run wrote)
    stack.stop("web")
    assert list(directory.glob("*.db"))
    web(stack, port)
    # then the count starts again from this run's requests only
    assert healthz_count(scrape(f"{base}/metrics")) < 10
    stack.stop("web")


def test_a_prefork_worker_counts_each_outcome_across_its_children(stack, clean_queues):
    port = free_port()
    stack.ensure(
        "worker-cpu",
        include="tests.worker_tasks",
        METRICS_PORT=str(port),
        WORKER_CPU_CONCURRENCY="2",
    )
    # given tasks that succeed, fail and retry, run by the pool's two processes
    for n in range(6):
        say.apply_async((f"hello {n}",), queue="cpu")
    for _ in range(2):
        fail.apply_async((0,), queue="cpu")
    retry_once.apply_async(("again",), queue="cpu")
    url = f"http://127.0.0.1:{port}/metrics"

    def outcome(task: Callable[..., object], what: str) -> Callable[[Samples], float]:
        labels = (("outcome", what), ("queue", "cpu"), ("task", task.name))  # type: ignore[attr-defined]
        return lambda samples: samples.get(("celery_tasks_total", labels), 0)

    said, failed = outcome(say, "succeeded"), outcome(fail, "failed")
    retried, retried_then = outcome(retry_once, "retried"), outcome(retry_once, "succeeded")

    # then the worker's endpoint shows each, summed over its processes
    def all_ended() -> Samples | None:
        samples = scrape(url)
        return (
            samples
            if (said(samples), failed(samples), retried_then(samples)) == (6, 2, 1)
            else None
        )

    samples = wait_until(all_ended, timeout=30)
    assert retried(samples) == 1
    runs = samples[("celery_task_runtime_seconds_count", (("queue", "cpu"), ("task", say.name)))]
    assert runs == 6
    stack.stop("worker-cpu")


def test_queue_age_grows_while_worker_io_is_stopped_and_falls_back_once_it_runs(
    stack, clean_queues
):
    collector = CoreCollector()
    length, age = (
        ("celery_queue_length", (("queue", "io"),)),
        (
            "celery_queue_oldest_age_seconds",
            (("queue", "io"),),
        ),
    )
    up = ("celery_worker_up", (("worker", "worker-io"),))
    stack.ensure("worker-io", include="tests.worker_tasks")
    assert wait_until(lambda: collected(collector)[up] == 1, timeout=30)
    if not is_redis_url(settings.CELERY_BROKER_URL) and not settings.RABBITMQ_MANAGEMENT_URL:
        pytest.skip("RabbitMQ shows a queue's age through its management API only")
    # given worker-io stopped, a countdown not yet due at the queue's tail (Redis: RabbitMQ shows
    # the head's age only, which such a countdown would hide), and a due task
    stack.stop("worker-io")
    waiting = 1
    if is_redis_url(settings.CELERY_BROKER_URL):
        say.apply_async(("later",), countdown=600)
        waiting = 2
    say.delay("now")

    def aged() -> Samples | None:
        # RabbitMQ's management API refreshes its figures every 5 s by default.
        samples = collected(collector)
        return samples if age in samples else None

    first = wait_until(aged, timeout=15)
    assert (first[length], first[up]) == (waiting, 0)
    # when time passes, the due one's age grows with it (the countdown's is not counted)
    time.sleep(2.5)
    second = collected(collector)
    assert second[age] >= first[age] + 2
    # then, worker-io back, the queue empties and the age falls back to zero
    stack.ensure("worker-io", include="tests.worker_tasks")

    def drained() -> Samples | None:
        samples = collected(collector)
        return samples if (samples[length], samples[up]) == (0, 1) else None

    after = wait_until(drained, timeout=30)
    assert after[age] == 0
