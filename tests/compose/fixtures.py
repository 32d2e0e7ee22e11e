"""Fixtures for the container tests (``make test-compose``: tests/compose and each app's
tests/<app>/compose), a plugin tests/conftest.py loads when COMPOSE_TESTS is set: one copy of the
repository with its own .env, the images built once, and a Compose project per setup, removed
with ``down -v``."""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.redis_server import free_port
from tests.compose.project import ComposeProject, docker
from tests.declared import declared
from tests.scratch import REPO_DIR, copy_repository

BASE = ["docker-compose.yml"]
DEV = ["docker-compose.yml", "docker-compose.override.yml"]
REPORT = REPO_DIR / "var" / "compose-report.md"
# The images the dev setup builds, each named by a variable (``image: ${APP_IMAGE:-...}``).
IMAGE_VARIABLES = sorted(
    {
        name
        for file in DEV
        for name in re.findall(r"\$\{([A-Z][A-Z0-9_]*_IMAGE):-", (REPO_DIR / file).read_text())
    }
)


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
    every module that uses it (test_dev.py, and an app's own); the rest keep their order."""
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
    # What the apps' container tests need set (``COMPOSE_ENV``, tests/declared.py).
    for variables in declared("COMPOSE_ENV"):
        env += "".join(f"{name}={value}\n" for name, value in variables.items()).encode()
    (directory / ".env").write_bytes(env)
    return directory


@pytest.fixture(scope="session")
def images(run_id: str) -> Iterator[dict[str, str]]:
    """A test tag for each image the dev setup builds, by its variable; removed at the end."""
    tags = {
        name: f"django-celery-template-{name.removesuffix('_IMAGE').lower()}-test:{run_id}"
        for name in IMAGE_VARIABLES
    }
    yield tags
    removed = ["docker", "image", "rm", "-f", *tags.values()]
    subprocess.run(removed, capture_output=True, check=False)


@pytest.fixture(scope="session")
def built(workspace: Path, images: dict[str, str], run_id: str, report: Report) -> str:
    """The dev setup's images, built by Compose's default builder, once for the session: the
    app's, which this returns, and those of the dev-only services."""
    project = ComposeProject(workspace, f"dct-build-{run_id}", DEV, images)
    started = time.monotonic()
    result = project.run("build", timeout=1200)
    report.add(f"Build of the dev setup's images: {time.monotonic() - started:.0f} s")
    report.build_output = result.stdout + result.stderr
    return images["APP_IMAGE"]


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
    workspace: Path, built: str, images: dict[str, str], run_id: str, report: Report
) -> Iterator[ComposeProject]:
    """The development setup (the base file and the override, with its dev-only services), up
    once for every module that drives it; removed with ``down -v`` at the end."""
    env = {**images, "WEB_PORT": str(free_port())}
    for project in project_for(workspace, f"dct-dev-{run_id}", DEV, env):
        started = time.monotonic()
        project.up()
        report.add(f"Dev setup: every service up {time.monotonic() - started:.0f} s after up")
        yield project
