"""Fixtures for the container tests (``make test-compose``): one copy of the repository with its
own .env, the images built once, and a Compose project per setup, removed with ``down -v``."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.redis_server import free_port
from tests.compose.project import ComposeProject, docker
from tests.scratch import REPO_DIR, copy_repository

BASE = ["docker-compose.yml"]
DEV = ["docker-compose.yml", "docker-compose.override.yml"]
REPORT = REPO_DIR / "var" / "compose-report.md"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "ends_dev: stops or removes the shared dev project, so it runs after every other test",
    )
    try:
        docker("info", timeout=30)
    except (AssertionError, FileNotFoundError) as exc:
        raise pytest.UsageError(
            f"make test-compose needs a running Docker Engine with Compose v2: {exc}"
        ) from None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that end the shared dev project (stop each service, ``down -v``) go last, after
    every module that uses it (test_dev.py, test_recovery.py); the rest keep their order."""
    items.sort(key=lambda item: item.get_closest_marker("ends_dev") is not None)


@pytest.fixture(scope="session")
def run_id() -> str:
    return secrets.token_hex(3)


@pytest.fixture(scope="session")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = copy_repository(tmp_path_factory.mktemp("clone"))
    env = subprocess.run(
        [sys.executable, "scripts/make_env.py"], cwd=directory, check=True, capture_output=True
    ).stdout
    # Parts 2 s apart, so that a fault mid-batch finds parts held as countdown tasks
    # (test_recovery.py); the pair rule (the stand-in enforces what the app is told) scaled to
    # 1 s so that each part opens a burst of its own instead of waiting 6 s per part it borrowed.
    env += b"WHATSAPP_PART_SPACING_SECONDS=2\nWHATSAPP_PAIR_INTERVAL_SECONDS=1\n"
    (directory / ".env").write_bytes(env)
    return directory


@pytest.fixture(scope="session")
def app_image(run_id: str) -> Iterator[str]:
    image = f"django-celery-template-test:{run_id}"
    yield image
    subprocess.run(["docker", "image", "rm", "-f", image], capture_output=True, check=False)


@pytest.fixture(scope="session")
def standin_image(run_id: str) -> Iterator[str]:
    image = f"django-celery-template-standins-test:{run_id}"
    yield image
    subprocess.run(["docker", "image", "rm", "-f", image], capture_output=True, check=False)


@pytest.fixture(scope="session")
def built(workspace: Path, app_image: str, standin_image: str, run_id: str, report: Report) -> str:
    """The app and stand-in images, built by Compose's default builder, once for the session."""
    env = {"APP_IMAGE": app_image, "STANDIN_IMAGE": standin_image}
    project = ComposeProject(workspace, f"dct-build-{run_id}", DEV, env)
    started = time.monotonic()
    result = project.run("build", timeout=1200)
    report.add(f"Build of the app and stand-in images: {time.monotonic() - started:.0f} s")
    report.build_output = result.stdout + result.stderr
    return app_image


class Report:
    """What the closing note needs (image size, stop times), printed at the end of the run."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.build_output = ""

    def add(self, line: str) -> None:
        self.lines.append(line)


@pytest.fixture(scope="session")
def report() -> Iterator[Report]:
    collected = Report()
    yield collected
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text("\n".join(collected.lines) + "\n")
    print("\n" + "\n".join(collected.lines) + f"\n(written to {REPORT})")


def project_for(
    workspace: Path, name: str, files: list[str], env: dict[str, str]
) -> Iterator[ComposeProject]:
    project = ComposeProject(workspace, name, files, env)
    try:
        yield project
    finally:
        project.run("down", "-v", "--remove-orphans", "-t", "5", check=False)


@pytest.fixture(scope="session")
def dev(
    workspace: Path, built: str, standin_image: str, run_id: str, report: Report
) -> Iterator[ComposeProject]:
    """The development setup (the base file and the override, with the API stand-ins), up once
    for every module that drives it; removed with ``down -v`` at the end."""
    env = {"APP_IMAGE": built, "STANDIN_IMAGE": standin_image, "WEB_PORT": str(free_port())}
    for project in project_for(workspace, f"dct-dev-{run_id}", DEV, env):
        started = time.monotonic()
        project.up()
        report.add(f"Dev setup: every service up {time.monotonic() - started:.0f} s after up")
        yield project
