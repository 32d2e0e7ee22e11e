"""The systemd units in deploy/systemd/: generated from the Compose file and the topology,
accepted by ``systemd-analyze verify``, and each one's ``ExecStart`` run as a real process against
the session's Redis and test database, stopped with the unit's own signal within its timeout."""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.topology import WORKERS
from devstack.compose import REPO_DIR, Service
from devstack.processes import ServiceProcess
from devstack.redis_server import free_port
from devstack.systemd import OUTPUT_DIR, SERVICES, Layout, exec_start, units
from tests.stack import Stack, node_name, wait_for_node, wait_until

LOCAL = Layout(prefix=str(REPO_DIR), user=getpass.getuser())


def unit_setting(text: str, key: str, default: str = "") -> str:
    lines = (line for line in text.splitlines() if line.startswith(f"{key}="))
    return next((line.split("=", 1)[1] for line in lines), default)


def test_the_committed_units_are_the_generated_ones():
    committed = {path.name: path.read_text() for path in OUTPUT_DIR.iterdir()}
    assert committed == units(), "run `make systemd-units` and commit deploy/systemd/"


def test_every_worker_service_and_beat_has_a_unit_with_a_user_and_a_restart_policy():
    generated = units()
    for service in ("migrate", *SERVICES):
        text = generated[f"app-{service}.service"]
        assert unit_setting(text, "User") == "app"
        if service != "migrate":
            assert unit_setting(text, "Restart") == "always"
            assert unit_setting(text, "KillMode") == "mixed"
    assert {w.service for w in WORKERS} <= set(SERVICES)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_systemd_analyze_verifies_every_unit(tmp_path):
    for filename, text in units(LOCAL).items():
        (tmp_path / filename).write_text(text)
    result = subprocess.run(
        ["systemd-analyze", "verify", *sorted(str(p) for p in tmp_path.iterdir())],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.fixture
def run_unit(stack: Stack, clean_queues: None, tmp_path: Path) -> Iterator:
    """Start a unit's ExecStart with the unit's environment, the session's services standing in
    for the environment file; stopped with SIGTERM to the main process (KillMode=mixed).
    The units' workers take the node names of the session's own (io@host, cpu@host) and their
    beat its lock: whatever an earlier test left running is stopped first, so only the units
    answer (beside a leftover worker of its name, the worker-cpu unit at times exited 1 on its
    SIGTERM)."""
    for name in list(stack.processes):
        stack.stop(name)
    started: list[ServiceProcess] = []

    def start(service: str, **environ: str) -> tuple[ServiceProcess, Path, int]:
        text = units(LOCAL)[LOCAL.unit(service)]
        command, env = exec_start(text, {**stack.base_env, **environ})
        log = tmp_path / f"{service}.log"
        process = ServiceProcess(Service(service, tuple(command)), env, log.open("w")).start()
        started.append(process)
        return process, log, int(unit_setting(text, "TimeoutStopSec", "0"))

    yield start
    for process in started:
        process.stop(10)


def stopped_by_its_unit(process: ServiceProcess, timeout: int) -> int | None:
    os.kill(process.pid, signal.SIGTERM)
    return process.wait(timeout)


@pytest.mark.django_db(transaction=True)
def test_each_unit_runs_and_stops_cleanly(run_unit, stack, tmp_path):
    migrate, _, _ = run_unit("migrate")
    assert migrate.wait(120) == 0
    running = []
    for worker in WORKERS:
        process, log, timeout = run_unit(worker.service)
        wait_for_node(stack.app, node_name(worker.service))
        running.append((process, timeout, log))
    port = free_port()
    web, web_log, timeout = run_unit("web", WEB_BIND=f"127.0.0.1:{port}")

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    wait_until(healthy, timeout=30)
    running.append((web, timeout, web_log))
    schedule = str(tmp_path / "celerybeat-schedule")
    beat, beat_log, timeout = run_unit("beat", CELERY_BEAT_SCHEDULE_FILE=schedule)
    wait_until(lambda: "holding the lock" in beat_log.read_text(), timeout=30)
    running.append((beat, timeout, beat_log))
    # SIGTERM, as systemd stops them: each exits 0 well within its TimeoutStopSec (its log's end
    # says why when one does not).
    for process, timeout, log in running:
        status = stopped_by_its_unit(process, timeout)
        assert status == 0, f"{log.name} exited {status}:\n{log.read_text()[-3000:]}"
