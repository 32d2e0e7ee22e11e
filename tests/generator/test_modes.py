"""Every mode of the template generated and proven by the generated project's own commands:
`make test` without the real-process tests (the full project's on PostgreSQL with Python 3.12),
`make lint` where generation left code out, and `make test-compose` for the full and (without
the production stack's tests) the example-free project, which then runs `make bench` (the
starter's benchmarks), turns WhatsApp on by `copier update` and runs its tests again. `make
test-generator` runs two lanes at once (pytest-xdist), their container tests one at a time (about
15 minutes; docs/new-project.md).
Each mode's numbers go to var/generator/<mode>.json."""

from __future__ import annotations

import fcntl
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.generator.template import (
    Generated,
    answers,
    commit_all,
    copier,
    data_options,
    generate,
    run,
    template_repository,
)
from tests.scratch import REPO_DIR

pytestmark = pytest.mark.processes

REPORT_DIR = REPO_DIR / "var" / "generator"
POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")


def python312() -> str:
    """Python 3.12, the Docker image's, for the full project's pass (as .ci/run did for this
    repository); the running Python where there is none."""
    home = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates = ["python3.12", *sorted(glob.glob(f"{home}/versions/3.12*/bin/python3.12"))]
    for candidate in candidates:
        check = "import sys; assert sys.version_info[:2] == (3, 12)"
        if (
            shutil.which(candidate)
            and subprocess.run(
                [candidate, "-c", check], check=False, capture_output=True
            ).returncode
            == 0
        ):
            return candidate
    return sys.executable


@dataclass(frozen=True)
class Plan:
    test_env: dict[str, str]
    lint: bool
    compose: bool
    compose_env: dict[str, str] | None = None
    # Answers `copier update` then changes, after which the project's fast tests run again.
    update_to: dict[str, object] | None = None
    # `make bench` runs to completion (the starter's benchmarks where no example app is kept).
    bench: bool = False


# The full project is this repository under another name (test_generate.py): its real-process
# tests are this repository's own `make test` (SQLite) and `make chaos` (PostgreSQL), and the
# single-app projects' are the full project's same tests, so every project runs the rest; the
# full project's on PostgreSQL with Python 3.12, the image's. The example-free project's
# container tests leave out the production stack (Caddy, TLS, headers: no example app in it),
# which the full project's run.
FAST_ONLY = {"PYTEST_ADDOPTS": "-m 'not processes'"}
PLANS = {
    "full": Plan({"DATABASE_URL": POSTGRES_URL, **FAST_ONLY}, lint=False, compose=True),
    "whatsapp": Plan(FAST_ONLY, lint=True, compose=False),
    "none": Plan(
        FAST_ONLY,
        lint=True,
        compose=True,
        compose_env={"PYTEST_ADDOPTS": "-k 'not test_production'"},
        update_to={"keep_whatsapp": True, "worker_io_concurrency": 60},
        bench=True,
    ),
    "football_data": Plan(FAST_ONLY, lint=True, compose=False),
}
# Two lanes, one test each, run side by side (`-n 2`). The container tests take turns, so the
# example-free project's (about 5 min) go first while the other lane installs and tests the full
# project, whose container tests (about 8 min) follow and end the run; the single-app projects
# fill the first lane meanwhile. A lane stops at its first failing mode.
LANES = {"none": ("none", "whatsapp", "football_data"), "full": ("full",)}
COMPOSE_LOCK = REPORT_DIR / ".compose.lock"


@contextmanager
def one_compose_suite_at_a_time() -> Iterator[None]:
    """The container tests of two lanes never overlap: both would build images and publish the
    production stack's ports at once."""
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    with COMPOSE_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return template_repository(tmp_path_factory.mktemp("template"))


class Report:
    def __init__(self, mode: str, generated: Generated) -> None:
        self.path = REPORT_DIR / f"{mode}.json"
        self.data: dict[str, object] = {
            "mode": mode,
            "generation_seconds": round(generated.seconds, 2),
            "files": len(generated.files()),
            "lines": generated.lines(),
        }
        self.save()

    def add(self, **values: object) -> None:
        self.data.update(values)
        self.save()

    def save(self) -> None:
        REPORT_DIR.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.data, indent=2) + "\n")


def timed(
    project: Path, *command: str, timeout: float, env: dict[str, str] | None = None
) -> tuple[str, float]:
    started = time.monotonic()
    result = run(project, *command, timeout=timeout, env=env)
    return result.stdout + result.stderr, round(time.monotonic() - started, 1)


def summary(output: str) -> str:
    """pytest's summary line, e.g. "598 passed, 3 skipped in 512.3s"."""
    lines = re.findall(r"^=+ (.* in [\d.]+s.*?) =+$", output, re.M)
    assert lines, output[-3000:]
    return lines[-1]


@pytest.mark.parametrize("lane", list(LANES))
def test_every_mode_passes_its_own_commands(template, tmp_path, lane):
    assert sorted(mode for modes in LANES.values() for mode in modes) == sorted(PLANS)
    for mode in LANES[lane]:
        mode_passes_its_own_commands(template, tmp_path / mode, mode)


def mode_passes_its_own_commands(template: Path, directory: Path, mode: str) -> None:
    plan = PLANS[mode]
    directory.mkdir(parents=True)
    generated = generate(template, directory / "project", answers(mode))
    report = Report(mode, generated)
    project = generated.path
    python = python312() if mode == "full" else sys.executable
    _, seconds = timed(project, "make", "install", f"PYTHON={python}", timeout=900)
    report.add(
        install_seconds=seconds, python=run(project, ".venv/bin/python", "--version").stdout.strip()
    )

    output, seconds = timed(project, "make", "test", timeout=2400, env=plan.test_env)
    report.add(
        test_seconds=seconds,
        tests=summary(output),
        database="PostgreSQL" if "DATABASE_URL" in plan.test_env else "SQLite",
        real_processes="processes" not in plan.test_env.get("PYTEST_ADDOPTS", ""),
    )
    passed = re.search(r"(\d+) passed", summary(output))
    assert passed, f"{mode}: {output[-3000:]}"
    assert int(passed[1]) > 0, mode
    assert not re.search(r"\d+ (failed|error)", summary(output)), mode

    if plan.lint:
        _, seconds = timed(project, "make", "lint", timeout=900, env={"AUDIT_UNREACHABLE_OK": "1"})
        report.add(lint_seconds=seconds)
    if plan.compose:
        with one_compose_suite_at_a_time():
            output, seconds = timed(
                project, "make", "test-compose", timeout=2400, env=plan.compose_env
            )
        report.add(compose_seconds=seconds, compose_tests=summary(output))
        assert not re.search(r"\d+ (failed|error)", summary(output)), mode
    if plan.bench:
        output, seconds = timed(project, "make", "bench", timeout=1800)
        report.add(bench_seconds=seconds)
        page = (project / "docs" / "benchmarks.md").read_text()
        assert "bench/starter/io_task.py" in page, output[-3000:]
        assert "bench/starter/cpu_scaling.py" in page, output[-3000:]
    if plan.update_to:
        update_passes_its_own_tests(project, plan.update_to, report)


def update_passes_its_own_tests(project: Path, changed: dict[str, object], report: Report) -> None:
    """`copier update` with changed answers, on the project and its own commit, then its fast
    tests again: an example app turned on later works as one generated with it."""
    (project / "backend" / "starter" / "notes.md").write_text("the user's own file\n")
    commit_all(project, "The user's changes")
    update = ["update", "--trust", "--defaults", "--vcs-ref", "HEAD", "--skip-answered"]
    copier(project, *update, *data_options(changed))
    output, seconds = timed(project, "make", "test", timeout=2400, env=FAST_ONLY)
    report.add(update_answers=changed, update_test_seconds=seconds, update_tests=summary(output))
    assert not re.search(r"\d+ (failed|error)", summary(output)), changed
    assert int(re.findall(r"(\d+) passed", summary(output))[0]) > int(
        re.findall(r"(\d+) passed", str(report.data["tests"]))[0]
    )  # the app's tests ran too
