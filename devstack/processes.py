"""Start Compose services as local processes with the environment a local run needs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from devstack.compose import REPO_DIR, Service

BACKEND_DIR = REPO_DIR / "backend"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def service_environment(service: Service, base: Mapping[str, str]) -> dict[str, str]:
    """``base`` plus the service's own variables, with this virtualenv's scripts on PATH. A
    service counting its processes' metrics in a directory (PROMETHEUS_MULTIPROC_DIR, one per
    container) gets one of its own on this host: each clears its directory as it starts."""
    env = {**base, **service.environment}
    if env.get(MULTIPROC_ENV):
        env[MULTIPROC_ENV] = str(
            Path(tempfile.gettempdir()) / f"metrics-{os.getpid()}-{service.name}"
        )
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", os.defpath)])
    env["PYTHONUNBUFFERED"] = "1"
    return env


class ServiceProcess:
    """One service's process, in its own session so signals reach only it."""

    def __init__(self, service: Service, env: Mapping[str, str], output: IO[str] | None = None):
        self.service = service
        self.env = dict(env)
        self._output = output
        self.popen: subprocess.Popen[str] | None = None
        self._pump: threading.Thread | None = None

    @property
    def name(self) -> str:
        return self.service.name

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def start(self) -> ServiceProcess:
        self.popen = subprocess.Popen(
            list(self.service.command),
            cwd=BACKEND_DIR,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        self._pump = threading.Thread(target=self._copy_output, daemon=True)
        self._pump.start()
        return self

    def _copy_output(self) -> None:
        assert self.popen is not None
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            if self._output is not None:
                self._output.write(f"{self.name:>12} | {line}")
                self._output.flush()

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, signum: int) -> None:
        if self.alive():
            assert self.popen is not None
            os.killpg(self.popen.pid, signum)

    def wait(self, timeout: float) -> int | None:
        assert self.popen is not None
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = 45.0) -> int | None:
        """SIGTERM (a soft shutdown for workers), then SIGKILL after ``timeout``."""
        return stop_all([self], timeout)[0]

    def _reap(self, timeout: float) -> int | None:
        if self.popen is None:
            return None
        code = self.wait(timeout)
        if code is None:
            self.signal(signal.SIGKILL)
            code = self.wait(10)
        if self._pump is not None:
            self._pump.join(5)
        if self.popen.stdout is not None:
            self.popen.stdout.close()
        return code


def stop_all(processes: list[ServiceProcess], timeout: float = 45.0) -> list[int | None]:
    """One SIGTERM each, all at once (a second one would cut a worker's soft shutdown short),
    then SIGKILL whatever is still running after ``timeout``."""
    for process in processes:
        process.signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    return [process._reap(max(0.0, deadline - time.monotonic())) for process in processes]
