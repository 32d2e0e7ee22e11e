"""`make run`: the whole system as local processes on loopback, checked by the doctor, stopped by
Ctrl-C; a bad configuration ends it with one line."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from devstack.compose import REPO_DIR, load_services, services_labelled
from devstack.redis_server import free_port
from devstack.run import APP_SERVICES, LOCAL_RUN_LABEL, StartError, free_web_port, on_loopback
from tests.devstack.required import FOR_LOCAL_RUN

pytestmark = pytest.mark.processes

BACKEND = REPO_DIR / "backend"


def children(pid: int) -> dict[int, str]:
    """Direct children of ``pid`` with their command lines (Linux /proc)."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            found[int(child)] = cmdline
    return found


def wait_for(predicate, timeout: float):
    deadline = time.monotonic() + timeout
    while (value := predicate()) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert value is not None, "timed out"
    return value


def listening(port: int) -> set[str]:
    """Local addresses (hex, as /proc/net/tcp* writes them) with a socket listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, _, hex_port = fields[1].partition(":")
            if fields[3] == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


def doctor(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "doctor", "--timeout=2"],
        cwd=BACKEND,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def test_make_run_starts_everything_the_doctor_sees_it_and_ctrl_c_stops_it(tmp_path):
    web_port = free_port()
    env = {
        **os.environ,
        # Nothing answers here, so the runner starts its own redis-server.
        "REDIS_PORT": str(free_port()),
        "WEB_PORT": str(web_port),
        "SQLITE_PATH": str(tmp_path / "db.sqlite3"),
        "CELERY_BEAT_SCHEDULE_FILE": str(tmp_path / "beat-schedule"),
        "OPS_CANARY_INTERVAL_SECONDS": "1",
        "CELERY_SOFT_SHUTDOWN_TIMEOUT": "1",
        **FOR_LOCAL_RUN,
        "DJANGO_DEBUG": "1",
        "DEVSTACK_VAR_DIR": str(tmp_path / "var"),
    }
    log = tmp_path / "run.log"
    with log.open("w") as output:
        runner = subprocess.Popen(
            [sys.executable, "-m", "devstack"],
            cwd=BACKEND,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        found = wait_for(
            lambda: re.search(r"private redis-server on 127\.0\.0\.1:(\d+)", log.read_text()), 30
        )
        doctor_env = {**env, "REDIS_PORT": found[1]}

        deadline = time.monotonic() + 90
        result = doctor(doctor_env)
        while result.returncode != 0 and time.monotonic() < deadline:
            time.sleep(2)
            result = doctor(doctor_env)
        assert result.returncode == 0, result.stdout + result.stderr + log.read_text()[-5000:]
        assert "All live checks passed." in result.stdout
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/readyz", timeout=5) as response:
            assert response.status == 200
        assert listening(web_port) == {"0100007F"}  # 127.0.0.1 only, not 0.0.0.0
        # Each local-run service runs its command with the addresses moved to loopback.
        local = on_loopback(load_services(env, services_labelled(LOCAL_RUN_LABEL)), web_port)
        commands = [" ".join(service.command) for service in local.values()]

        processes = children(runner.pid)
        for service in ("gunicorn", "io@%h", "cpu@%h", " beat ", *commands):
            assert any(service in cmd for cmd in processes.values()), (service, processes)
        (cpu_worker,) = [pid for pid, cmd in processes.items() if "cpu@%h" in cmd]
        os.kill(cpu_worker, signal.SIGTERM)
        # The runner reaps its child when it exits; until then it is in /proc.
        wait_for(lambda: None if Path(f"/proc/{cpu_worker}").exists() else True, 30)

        result = doctor(doctor_env)
        assert result.returncode != 0
        assert "worker-cpu" in result.stdout + result.stderr
    finally:
        started = children(runner.pid) if runner.poll() is None else {}
        os.killpg(runner.pid, signal.SIGINT)
        code = runner.wait(90)

    assert code == 0
    for pid in started:
        assert (
            not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
        )


def test_web_binds_loopback_on_web_port_and_the_local_run_services_follow():
    names = [*APP_SERVICES, *services_labelled(LOCAL_RUN_LABEL)]
    services = on_loopback(load_services(FOR_LOCAL_RUN, names), 8123)

    assert services["web"].environment["WEB_BIND"] == "127.0.0.1:8123"
    for name in services_labelled(LOCAL_RUN_LABEL):
        assert services[name].command[-1] == "--host=127.0.0.1"


def test_a_taken_web_port_is_refused_with_the_variable_to_change():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(StartError, match=f"127.0.0.1:{port} is in use; set WEB_PORT"):
            free_web_port({"WEB_PORT": str(port)})


@pytest.mark.parametrize(
    ("name", "value", "redis"),
    [
        pytest.param("DJANGO_DEBUG", "maybe", "private", id="settings"),
        pytest.param("WEB_WORKERS", "abc", "private", id="gunicorn"),
        pytest.param("WEB_PORT", "80800", "private", id="runner"),
        # Read only when the run uses that Redis: a private one replaces the broker URL.
        pytest.param(
            "CELERY_BROKER_URL", "redis://:${REDIS_PASSWORD}@x/0", "session", id="unexpanded"
        ),
    ],
)
def test_make_run_with_a_bad_variable_prints_its_line_and_exits(
    tmp_path, private_redis, name, value, redis
):
    env = {
        **os.environ,
        "REDIS_PORT": str(private_redis.port if redis == "session" else free_port()),
        "WEB_PORT": str(free_port()),
        "SQLITE_PATH": str(tmp_path / "db.sqlite3"),
        **FOR_LOCAL_RUN,
        "DJANGO_DEBUG": "1",
        "DEVSTACK_VAR_DIR": str(tmp_path / "var"),
        name: value,
    }
    started = time.monotonic()
    runner = subprocess.Popen(
        [sys.executable, "-m", "devstack"],
        cwd=BACKEND,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = runner.communicate(timeout=60)
    finally:
        leftover = True
        try:
            os.killpg(runner.pid, signal.SIGKILL)
        except ProcessLookupError:
            leftover = False
        runner.wait()

    assert runner.returncode != 0, output
    assert time.monotonic() - started < 30
    # The line config/__init__.py (or gunicorn, for its own variables) prints, and no traceback.
    assert re.search(rf"^(Configuration error|Error): {name} ", output, re.M), output
    assert "Traceback" not in output
    assert not leftover, "a process the runner started outlived it"
