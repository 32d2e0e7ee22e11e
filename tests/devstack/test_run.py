"""`make run`: the whole system as local processes, checked by the doctor, stopped by Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from devstack.compose import REPO_DIR
from devstack.redis_server import free_port

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
    env = {
        **os.environ,
        # Nothing answers here, so the runner starts its own redis-server.
        "REDIS_PORT": str(free_port()),
        "SQLITE_PATH": str(tmp_path / "db.sqlite3"),
        "CELERY_BEAT_SCHEDULE_FILE": str(tmp_path / "beat-schedule"),
        "OPS_CANARY_INTERVAL_SECONDS": "1",
        "CELERY_SOFT_SHUTDOWN_TIMEOUT": "1",
        "WHATSAPP_APP_SECRET": "run-test-secret",  # pragma: allowlist secret (throwaway)
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
        with urllib.request.urlopen("http://127.0.0.1:8000/readyz", timeout=5) as response:
            assert response.status == 200

        processes = children(runner.pid)
        for service in ("gunicorn", "io@%h", "cpu@%h", " beat "):
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
