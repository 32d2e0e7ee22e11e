"""Each example app can be removed the documented way: delete its folder (and its tests and its
stand-in) and its INSTALLED_APPS line. In a scratch copy, with a virtualenv of its own, the
checks, `make lint` (types, import contracts, compose schema) and the rest of the suite must still
pass, and `make bench` and `make demo` no longer name the app (`make test-removal`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.scratch import copy_repository

APPS = {"whatsapp": "whatsapp-standin", "football_data": "football-data-standin"}


def remove_app(copy: Path, app: str) -> None:
    shutil.rmtree(copy / "backend" / app)
    shutil.rmtree(copy / "tests" / app, ignore_errors=True)
    (copy / "devstack" / "standins" / f"{app}.py").unlink()
    settings = copy / "backend" / "config" / "settings.py"
    line = f'    "{app}",\n'
    assert line in settings.read_text()
    settings.write_text(settings.read_text().replace(line, ""))
    override = copy / "docker-compose.override.yml"
    document = yaml.safe_load(override.read_text())
    del document["services"][APPS[app]]
    override.write_text(yaml.safe_dump(document, sort_keys=False))


def run(copy: Path, *command: str, timeout: float = 1200, **extra_env: str) -> str:
    # Nothing of this test run's own configuration leaks into the copy's.
    leaked = ("PYTEST", "DJANGO", "REDIS", "REMOVAL_TESTS", "COMPOSE_TESTS")
    env = {k: v for k, v in os.environ.items() if not k.startswith(leaked)}
    env.update(extra_env)
    result = subprocess.run(
        command, cwd=copy, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, (
        f"{' '.join(command)} exited {result.returncode}:\n{output[-6000:]}"
    )
    return output


@pytest.mark.parametrize("app", list(APPS))
def test_the_project_works_without_the_app(app, tmp_path):
    copy = copy_repository(tmp_path)
    remove_app(copy, app)
    run(copy, "make", "install", f"PYTHON={sys.executable}")
    check = run(
        copy,
        ".venv/bin/python",
        "backend/manage.py",
        "check",
        "--fail-level=WARNING",
        DJANGO_DEBUG="1",
        DOTENV_DISABLED="1",
    )
    assert "no issues" in check
    # pre-commit lists files through git, as in a clone.
    run(copy, "git", "init", "--quiet")
    run(copy, "git", "add", "--all")
    run(copy, "make", "lint")
    planned = run(copy, "make", "--dry-run", "demo")
    planned += run(copy, ".venv/bin/python", "bench/report.py", "--dry-run")
    assert app not in planned
    assert "python" in planned
    assert "bench/" in planned  # the other app's benchmarks still run
    suite = run(copy, ".venv/bin/pytest", "-q", "-p", "no:cacheprovider")
    assert " passed" in suite
    assert "error" not in suite.splitlines()[-1]
