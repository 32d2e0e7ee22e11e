"""The stand-ins stop at once, with exit 0, on the SIGTERM `docker compose stop` sends."""

from __future__ import annotations

import pkgutil
import signal
import subprocess
import sys
import time

import pytest

import devstack.standins
from devstack.processes import BACKEND_DIR
from devstack.redis_server import free_port
from tests.stack import wait_until


@pytest.mark.parametrize(
    "module",
    # A module whose name starts with "_" is a part of a stand-in, not one.
    [m.name for m in pkgutil.iter_modules(devstack.standins.__path__) if m.name[0] != "_"],
)
def test_a_standin_exits_0_promptly_on_sigterm(module):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", f"devstack.standins.{module}", "--host=127.0.0.1", f"--port={port}"],
        cwd=BACKEND_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        wait_until(lambda: "stand-in" in process.stdout.readline(), timeout=20, interval=0)  # type: ignore[union-attr]
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(5) == 0
        assert time.monotonic() - started < 2
    finally:
        process.kill()
        process.wait()
