"""The worker services, started with their docker-compose.yml commands, as real processes.

What is asserted comes from the running workers themselves (remote-control replies, task events,
what their tasks wrote), never from reading configuration back.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import signal
import socketserver
import threading
import time
from pathlib import Path

import pytest
from celery.utils.sysinfo import cpu_budget  # type: ignore[attr-defined]
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from config.celery import app
from config.topology import WORKERS
from ops.doctor import POOL_IMPLEMENTATIONS
from ops.liveness import BEAT_ALIVE_KEY
from ops.tasks import CANARY_KEY, probe
from starter.tasks.cpu_bound import count_primes
from starter.tasks.io_bound import check_url
from tests.declared import declared
from tests.relay import FreezableRelay
from tests.stack import node_name, wait_until

pytestmark = [pytest.mark.processes, pytest.mark.django_db(transaction=True)]


# A task from the core, from the starter app and from each app that declares one
# (tests/declared.py); the routing table alone decides where each goes.
ROUTED_TASKS = [
    pytest.param("ops.tasks.probe", [], "worker-io", id="ops"),
    pytest.param("starter.tasks.cpu_bound.count_primes", [10], "worker-cpu"),
    *(pytest.param(*routed) for tasks in declared("ROUTED_TASKS") for routed in tasks),
]


@pytest.fixture
def workers(stack):
    for worker in WORKERS:
        stack.ensure(worker.service)
    return stack


@pytest.fixture
def beat(workers, session_dir):
    """Beat with a one-second canary, stopped after the test so it sends nothing into others."""
    workers.ensure(
        "beat",
        OPS_CANARY_INTERVAL_SECONDS="1",
        CELERY_BEAT_SCHEDULE_FILE=str(session_dir / "beat-schedule"),
    )
    yield workers
    workers.stop("beat")


def test_each_worker_runs_the_pool_queues_and_concurrency_of_its_topology(workers):
    inspect = app.control.inspect(timeout=3, destination=[node_name(w.service) for w in WORKERS])
    stats, active = inspect.stats(), inspect.active_queues()
    assert stats is not None
    assert active is not None

    io_node, cpu_node = node_name("worker-io"), node_name("worker-cpu")
    assert POOL_IMPLEMENTATIONS[stats[io_node]["pool"]["implementation"]] == "gevent"
    assert POOL_IMPLEMENTATIONS[stats[cpu_node]["pool"]["implementation"]] == "prefork"
    assert [q["name"] for q in active[io_node]] == ["io"]
    assert [q["name"] for q in active[cpu_node]] == ["cpu"]
    assert stats[io_node]["pool"]["max-concurrency"] == 100
    # -c auto: the CPUs this process may use
    assert stats[cpu_node]["pool"]["max-concurrency"] == cpu_budget().count


def test_the_prefork_worker_yields_the_cpu_and_the_gevent_one_does_not(workers):
    stats = app.control.inspect(
        timeout=3, destination=[node_name(w.service) for w in WORKERS]
    ).stats()
    assert stats is not None
    cpu, io = stats[node_name("worker-cpu")], stats[node_name("worker-io")]
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    lowered = min(19, ours + settings.CELERY_PREFORK_NICE)
    processes = [cpu["pid"], *cpu["pool"]["processes"]]
    assert [os.getpriority(os.PRIO_PROCESS, pid) for pid in processes] == [lowered] * len(processes)
    assert os.getpriority(os.PRIO_PROCESS, io["pid"]) == ours
    # and its session's autogroup, where the kernel groups by session (outside containers)
    autogroup = Path(f"/proc/{cpu['pid']}/autogroup")
    if autogroup.exists() and Path("/proc/sys/kernel/sched_autogroup_enabled").read_text() == "1\n":
        assert autogroup.read_text().split()[-1] == str(lowered)
        assert Path(f"/proc/{io['pid']}/autogroup").read_text().split()[-1] == "0"


def test_concurrency_from_the_environment_is_honoured(stack):
    # The incident: a solo pool ran one task at a time whatever --concurrency said.
    stack.ensure("worker-io", WORKER_IO_CONCURRENCY="20")
    try:
        stats = app.control.inspect(timeout=3, destination=[node_name("worker-io")]).stats()
        assert stats is not None
        assert stats[node_name("worker-io")]["pool"]["max-concurrency"] == 20
    finally:
        stack.ensure("worker-io")


@pytest.mark.parametrize(("task_name", "args", "service"), ROUTED_TASKS)
def test_tasks_are_received_by_the_worker_of_their_module(
    workers, clean_queues, task_name, args, service
):
    received: dict[str, str] = {}
    done = threading.Event()
    nodes = [node_name(w.service) for w in WORKERS]

    def capture() -> None:
        with app.connection_for_read() as connection:
            receiver = app.events.Receiver(
                connection,
                handlers={"task-received": lambda e: received.setdefault(e["uuid"], e["hostname"])},
            )
            # Workers with events on send heartbeats every 2 s, so this loop wakes up regularly.
            with contextlib.suppress(TimeoutError):
                for _ in receiver.itercapture(limit=None, timeout=30, wakeup=False):
                    # Let the consumer loop end by itself: leaving the generator early makes
                    # kombu close the channel from the garbage collector, racing this thread.
                    receiver.should_stop = done.is_set()

    app.control.enable_events(destination=nodes)
    listener = threading.Thread(target=capture, daemon=True)
    listener.start()
    sent: list[str] = []
    try:
        # The event subscription is live only once the listener polls, so a first task may go
        # unobserved: send again until one is seen (each is a real task on the real router).
        for _ in range(5):
            sent.append(app.send_task(task_name, args=args).id)
            with contextlib.suppress(AssertionError):
                wait_until(lambda: any(i in received for i in sent), timeout=3)
                break
    finally:
        done.set()
        listener.join(10)
        app.control.disable_events(destination=nodes)

    observed = {received[i] for i in sent if i in received}
    assert observed == {node_name(service)}


def test_the_starter_tasks_return_their_results_through_their_workers(workers, clean_queues):
    # The routing table alone picks the queue; a wrong route would wait on a queue nobody reads.
    assert count_primes.delay(100_000).get(timeout=20) == 9_592
    with socketserver.TCPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler) as server:
        threading.Thread(target=server.handle_request, daemon=True).start()
        # BaseHTTPRequestHandler answers every method it lacks with 501.
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        assert check_url.delay(url).get(timeout=20) == 501


def test_probe_sent_to_each_queue_is_answered_by_its_worker(workers):
    for worker in WORKERS:
        (queue,) = worker.queues
        answer = probe.apply_async(queue=queue).get(timeout=20)
        assert answer["hostname"] == node_name(worker.service)


@pytest.fixture
def fresh_canaries(private_redis):
    private_redis.client().delete(CANARY_KEY, BEAT_ALIVE_KEY)


def test_beat_schedule_reaches_a_consuming_worker_for_every_queue(
    fresh_canaries, beat, private_redis
):
    client = private_redis.client()

    def every_queue_seen() -> dict[bytes, bytes] | None:
        seen: dict[bytes, bytes] = client.hgetall(CANARY_KEY)
        return seen if len(seen) == len(WORKERS) else None

    seen = wait_until(every_queue_seen, timeout=30)

    for worker in WORKERS:
        (queue,) = worker.queues
        assert seen[queue.encode()].decode().split(" ", 1)[1] == node_name(worker.service)
    assert client.get(BEAT_ALIVE_KEY) is not None


def test_doctor_passes_on_the_stack_and_names_a_stopped_worker(
    fresh_canaries, beat, private_redis, capsys, settings
):
    # The session's Redis asks for no password: an error with debug off (tests/ops/test_doctor.py).
    settings.DEBUG = True
    client = private_redis.client()
    wait_until(lambda: client.hlen(CANARY_KEY) == len(WORKERS), timeout=30)

    call_command("doctor", "--timeout=2")
    assert "All live checks passed." in capsys.readouterr().out

    beat.stop("worker-cpu")
    with pytest.raises(CommandError, match="worker-cpu"):
        call_command("doctor", "--timeout=2")
    output = capsys.readouterr().out
    assert "no node cpu@* answered" in output
    assert "docker compose up -d worker-cpu" in output


@pytest.mark.parametrize("worker", WORKERS, ids=lambda w: w.service)
def test_stopping_a_worker_requeues_the_countdown_tasks_it_held(
    stack, clean_queues, broker, worker
):
    (queue,) = worker.queues
    stack.ensure(worker.service)
    held = probe.apply_async(queue=queue, countdown=60)
    wait_until(lambda: broker.held() == 1, timeout=10)
    assert broker.waiting(queue) == 0

    code = stack.stop(worker.service)

    # Put back at once (warm shutdown on gevent, soft shutdown on prefork), not after the
    # visibility timeout, and the worker exited cleanly.
    assert code == 0, stack.log(worker.service)[-3000:]
    assert broker.held() == 0
    assert broker.waiting_task_ids(queue) == [held.id]


@pytest.mark.parametrize("worker", WORKERS, ids=lambda w: w.service)
def test_workers_touch_their_liveness_file_and_remove_it_on_exit(stack, tmp_path, worker):
    alive = tmp_path / "worker.alive"
    stack.ensure(worker.service, CELERY_LIVENESS_FILE=str(alive), CELERY_LIVENESS_INTERVAL="0.5")
    first = wait_until(lambda: alive.exists() and alive.stat().st_mtime_ns, timeout=10)

    # It keeps touching it while the worker runs...
    wait_until(lambda: alive.stat().st_mtime_ns > first, timeout=10)

    # ...and removes it on the way out, so a stopped worker is never reported alive.
    stack.stop(worker.service)
    assert not alive.exists()


@pytest.mark.kernel_clock
@pytest.mark.parametrize("worker", WORKERS, ids=lambda w: w.service)
def test_a_worker_whose_broker_stops_answering_stops_touching_its_liveness_file(
    stack, tmp_path, broker, worker
):
    # given a worker reaching its broker through a relay that can go silent with its sockets open
    alive = tmp_path / "worker.alive"
    with FreezableRelay(broker.port) as relay:
        stack.ensure(
            worker.service,
            **broker.through(relay.port),
            CELERY_LIVENESS_FILE=str(alive),
            CELERY_LIVENESS_INTERVAL="0.5",
        )
        try:
            wait_until(lambda: alive.exists() and time.time() - alive.stat().st_mtime < 1, 10)
            # when the broker stops answering, the process itself still running
            relay.freeze()
            frozen_at = time.time()
            # then the file goes stale, which is what turns the container unhealthy
            time.sleep(6)
            assert alive.stat().st_mtime < frozen_at + 1
            assert stack.processes[worker.service].alive()
            # and once the broker answers again, so does the worker
            relay.thaw()
            wait_until(lambda: alive.stat().st_mtime > time.time() - 2, timeout=30)
        finally:
            relay.thaw()
            stack.stop(worker.service, timeout=20)


def test_worker_io_requeues_a_late_acknowledged_task_still_running_at_the_deadline(
    stack, clean_queues, broker
):
    # given worker-io running a task that acknowledges late and would take 60 s
    stack.ensure("worker-io", include="tests.worker_tasks", CELERY_SOFT_SHUTDOWN_TIMEOUT="2")
    result = app.send_task("tests.worker_tasks.hold", args=[60], queue="io")
    wait_until(lambda: broker.held() == 1 and broker.waiting("io") == 0, timeout=10)
    # when it is stopped
    stopped = stack.stop_watched("worker-io")
    # then after the deadline the task was cancelled and its message put back, and it exited 0
    assert stopped.code == 0, stopped.log[-3000:]
    assert 2 <= stopped.seconds < 10
    assert "requeueing and cancelling: tests.worker_tasks.hold" in stopped.log
    assert "CRITICAL" not in stopped.log
    assert broker.held() == 0
    assert broker.waiting_task_ids("io") == [result.id]


@pytest.mark.parametrize("signals", [("SIGINT", "SIGINT"), ("SIGQUIT",), ("SIGTERM", "SIGQUIT")])
def test_worker_io_stops_cleanly_on_any_stop_signal_and_a_second_one_requeues_at_once(
    stack, clean_queues, broker, signals
):
    # given worker-io running a late-acknowledged task, with a long stop deadline
    process = stack.ensure(
        "worker-io", include="tests.worker_tasks", CELERY_SOFT_SHUTDOWN_TIMEOUT="30"
    )
    result = app.send_task("tests.worker_tasks.hold", args=[60], queue="io")
    wait_until(lambda: broker.held() == 1 and broker.waiting("io") == 0, timeout=10)
    log_before = len(stack.log("worker-io"))
    # when it gets Ctrl-C twice, a SIGQUIT, or a SIGTERM then a SIGQUIT
    started = time.monotonic()
    for name in signals:
        process.signal(getattr(signal, name))
        time.sleep(0.5)
    if len(signals) == 1:
        # a single signal: it waits for the task (inside its 30 s), until a second one
        assert process.wait(3) is None
        process.signal(signal.SIGTERM)
    code = process.wait(20)
    took = time.monotonic() - started
    stack.processes.pop("worker-io")
    log = stack.log("worker-io")[log_before:]
    # then it never crashes, and the second signal requeued the task at once
    assert code == 0, log[-3000:]
    assert took < 15
    assert "BlockingSwitchOutError" not in log
    assert "CRITICAL" not in log
    assert broker.held() == 0
    assert result.id in broker.waiting_task_ids("io")


@pytest.mark.parametrize("worker", WORKERS, ids=lambda w: w.service)
def test_a_liveness_file_that_cannot_be_written_never_disturbs_the_consumer(
    stack, tmp_path, worker
):
    # given a liveness file in a directory that does not exist
    log_before = len(stack.log(worker.service))
    stack.ensure(
        worker.service,
        CELERY_LIVENESS_FILE=str(tmp_path / "missing" / "worker.alive"),
        CELERY_LIVENESS_INTERVAL="0.3",
    )
    try:
        # then the failure is logged, and the worker keeps consuming on the same connection
        wait_until(lambda: "could not record" in stack.log(worker.service)[log_before:], 15)
        time.sleep(2)
        (queue,) = worker.queues
        assert probe.apply_async(queue=queue).get(timeout=20)["hostname"] == node_name(
            worker.service
        )
        log = stack.log(worker.service)[log_before:]
        assert "Connection to broker lost" not in log
        assert "Unrecoverable error" not in log
    finally:
        stack.stop(worker.service, timeout=20)


@pytest.mark.parametrize("worker", WORKERS, ids=lambda w: w.service)
def test_in_production_a_task_logs_json_lines_carrying_its_id_name_queue_and_node(
    stack, clean_queues, worker
):
    stack.ensure(worker.service, include="tests.worker_tasks", LOG_FORMAT="json")
    log_before = len(stack.log(worker.service))
    queue = worker.queues[0]
    marker = f"hello from {queue} {time.time()}"
    result = app.send_task("tests.worker_tasks.say", args=[marker], queue=queue)
    # the "received" line carries the args too, so wait for the task's own line
    wait_until(lambda: f"said: {marker}" in stack.log(worker.service)[log_before:], timeout=30)
    # every line the worker logged meanwhile is one JSON object (the output pump adds a prefix)
    lines = [
        line.split(" | ", 1)[1] for line in stack.log(worker.service)[log_before:].splitlines()
    ]
    records = [json.loads(line) for line in lines if line.strip()]
    said = next(r for r in records if r["message"] == f"said: {marker}")
    assert said["level"] == "WARNING"
    assert said["task_id"] == result.id
    assert said["task_name"] == "tests.worker_tasks.say"
    assert said["queue"] == queue
    assert said["worker"] == node_name(worker.service)
