"""Every mode of the template generated and proven by the generated project's own commands:
`make test` in each (the full project's on PostgreSQL with Python 3.12), `make lint` where the
generator removed code, and `make test-compose` for the full and the example-free project
(`make test-generator`, about 45 minutes; docs/new-project.md). Each mode's numbers go to
var/generator/<mode>.json."""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.generator.template import Generated, answers, generate, run, template_repository
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


# mode: (make test's environment, whether `make lint` runs, whether `make test-compose` runs)
PLANS = {
    "full": ({"DATABASE_URL": POSTGRES_URL}, False, True),
    "none": ({}, True, True),
    "whatsapp": ({}, True, False),
    "football_data": ({}, True, False),
}


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


@pytest.mark.parametrize("mode", list(PLANS))
def test_every_mode_passes_its_own_commands(template, tmp_path, mode):
    test_env, lint, compose = PLANS[mode]
    generated = generate(template, tmp_path / "project", answers(mode))
    report = Report(mode, generated)
    project = generated.path
    python = python312() if mode == "full" else sys.executable
    _, seconds = timed(project, "make", "install", f"PYTHON={python}", timeout=900)
    report.add(
        install_seconds=seconds, python=run(project, ".venv/bin/python", "--version").stdout.strip()
    )

    output, seconds = timed(project, "make", "test", timeout=2400, env=test_env)
    report.add(
        test_seconds=seconds, tests=summary(output), database="PostgreSQL" if test_env else "SQLite"
    )
    passed = re.search(r"(\d+) passed", summary(output))
    assert passed, output[-3000:]
    assert int(passed[1]) > 0
    assert not re.search(r"\d+ (failed|error)", summary(output))

    if lint:
        _, seconds = timed(project, "make", "lint", timeout=900, env={"AUDIT_UNREACHABLE_OK": "1"})
        report.add(lint_seconds=seconds)
    if compose:
        output, seconds = timed(project, "make", "test-compose", timeout=2400)
        report.add(compose_seconds=seconds, compose_tests=summary(output))
        assert not re.search(r"\d+ (failed|error)", summary(output))
