"""A Compose project under test: a copy of the repository, its own .env, names and images, driven
through the real ``docker compose`` CLI."""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

APP_SERVICES = ("web", "worker-io", "worker-cpu", "beat")


@dataclass
class Stopped:
    service: str
    exit_code: int
    seconds: float
    grace: float


class ComposeProject:
    def __init__(self, directory: Path, name: str, files: list[str], env: dict[str, str]) -> None:
        self.directory = directory
        self.name = name
        self.files = files
        self.env = {**os.environ, **env, "COMPOSE_PROJECT_NAME": name}

    def run(
        self, *args: str, files: list[str] | None = None, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        command = ["docker", "compose"]
        for file in files or self.files:
            command += ["-f", file]
        result = subprocess.run(
            [*command, *args],
            cwd=self.directory,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"docker compose {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
            )
        return result

    def up(self, *args: str, files: list[str] | None = None, timeout: float = 300) -> None:
        self.run("up", "-d", "--wait", f"--wait-timeout={timeout:.0f}", *args, files=files)

    def exec(self, service: str, *command: str, check: bool = True) -> str:
        return self.run("exec", "-T", service, *command, check=check).stdout

    def containers(self, service: str | None = None, *, all_states: bool = True) -> list[str]:
        args = ["ps", "-q"] + (["-a"] if all_states else []) + ([service] if service else [])
        return self.run(*args).stdout.split()

    def inspect(self, container: str) -> dict[str, Any]:
        out = docker("inspect", container)
        info: dict[str, Any] = json.loads(out)[0]
        return info

    def health(self, service: str) -> list[str]:
        return [
            self.inspect(c)["State"].get("Health", {}).get("Status", "none")
            for c in self.containers(service, all_states=False)
        ]

    def wait_health(self, service: str, status: str, timeout: float) -> float:
        """Seconds until every container of ``service`` reports ``status``."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            states = self.health(service)
            if states and all(s == status for s in states):
                return time.monotonic() - started
            time.sleep(1)
        raise AssertionError(
            f"{service} not {status} within {timeout:.0f}s: {self.health(service)}"
        )

    def logs(self, service: str, since: float | None = None) -> str:
        """The service's log; with ``since`` (a ``time.time()``), only what came after it."""
        args = ["logs", "--no-color", "--no-log-prefix"]
        if since is not None:
            args.append(f"--since={since:.3f}")
        result = self.run(*args, service)
        return result.stdout + result.stderr

    def stop(self, service: str) -> Stopped:
        """``docker compose stop`` one service: its exit code and how long the stop took."""
        [container] = self.containers(service, all_states=False)
        grace = self._grace_seconds(service)
        started = time.monotonic()
        self.run("stop", service, timeout=grace + 60)
        took = time.monotonic() - started
        state = self.inspect(container)["State"]
        return Stopped(service, int(state["ExitCode"]), took, grace)

    def _grace_seconds(self, service: str) -> float:
        config = json.loads(self.run("config", "--format=json").stdout)
        grace = config["services"][service].get("stop_grace_period", "10s")
        return parse_duration(grace)

    def leftovers(self) -> dict[str, list[str]]:
        label = f"label=com.docker.compose.project={self.name}"
        return {
            "containers": docker("ps", "-aq", "--filter", label).split(),
            "networks": docker("network", "ls", "-q", "--filter", label).split(),
            "volumes": docker("volume", "ls", "-q", "--filter", label).split(),
        }


def docker(*args: str, timeout: float = 300) -> str:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {result.stderr[-2000:]}")
    return result.stdout


def parse_duration(text: str) -> float:
    """Compose durations as ``docker compose config`` prints them: ``1m15s``, ``30s``, ``500ms``."""
    total, number = 0.0, ""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    index = 0
    while index < len(text):
        char = text[index]
        if char.isdigit() or char == ".":
            number += char
            index += 1
            continue
        unit = "ms" if text.startswith("ms", index) else char
        total += float(number) * units[unit]
        number = ""
        index += len(unit)
    return total + (float(number) if number else 0.0)
