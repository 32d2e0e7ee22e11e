"""Start-up tests for a settings module: each variable it reads, set wrong, stops a real
``manage.py check`` with a message naming it; all set right, it starts; and the tables are
complete and the variables documented. The core's (tests/config/test_startup.py) and each app's
(tests/<app>/test_settings.py) are made by ``startup_tests``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from devstack.compose import REPO_DIR

BACKEND = REPO_DIR / "backend"


def start(argv: list[str], **env: str | None) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` with only this environment: no .env, no variable from the test process."""
    given: dict[str, str | None] = {
        name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ
    }
    given.update(DOTENV_DISABLED="1", DJANGO_DEBUG="0", DJANGO_SECRET_KEY="x")
    given.update(env)
    environ = {name: value for name, value in given.items() if value is not None}
    return subprocess.run(
        argv, cwd=BACKEND, env=environ, capture_output=True, text=True, timeout=60, check=False
    )


def celery_worker() -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "io", "-P", "prefork"]


def manage(*args: str) -> list[str]:
    return [sys.executable, "manage.py", *args]


def case(variable: str, value: str | None, message: str, *, id_: str = "", **context: str) -> Any:
    """``variable`` set to ``value`` (None: unset) with ``context`` must fail with ``message``."""
    return pytest.param(variable, {**context, variable: value}, message, id=id_ or variable)


def variables_read(*sources: Path) -> set[str]:
    """The variables these settings modules read through ``env``."""
    pattern = re.compile(r"\benv\.[a-z_]+\(\s*\"([A-Z][A-Z0-9_]*)\"")
    return {name for source in sources for name in pattern.findall(source.read_text())}


def startup_tests(
    bad: list[Any], good: dict[str, str], *, sources: list[Path], example: Path
) -> dict[str, Callable[..., None]]:
    """The three tests of the settings read in ``sources``, documented in ``example``, by name
    (a test module adds them to its globals): ``bad`` holds a ``case`` per variable, ``good`` a
    right value for each."""

    @pytest.mark.parametrize(("variable", "environment", "message"), bad)
    def test_each_bad_variable_stops_start_up_naming_it(
        variable: str, environment: dict[str, str | None], message: str
    ) -> None:
        # Given an otherwise good environment with one variable missing or malformed
        # When the web's first command starts
        result = start(manage("check"), **environment)
        # Then it exits non-zero with one line naming the variable, and no traceback
        assert result.returncode != 0
        assert f"Configuration error: {message}" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
        assert "EAAGsecret" not in result.stderr  # a token is never printed back

    def test_every_variable_set_to_a_good_value_starts() -> None:
        result = start(manage("check"), **good)

        assert result.returncode == 0, result.stderr

    def test_every_variable_read_has_a_case_a_good_value_and_documentation() -> None:
        read = variables_read(*sources)
        documentation = example.read_text(encoding="utf-8")

        assert len(read) >= 5  # the pattern still finds the reads
        assert read == {param.values[0] for param in bad}
        assert read == set(good)
        missing = {name for name in read if not re.search(rf"^#? ?{name}=", documentation, re.M)}
        assert not missing, f"document these in {example.relative_to(REPO_DIR)}: {sorted(missing)}"

    tests = (
        test_each_bad_variable_stops_start_up_naming_it,
        test_every_variable_set_to_a_good_value_starts,
        test_every_variable_read_has_a_case_a_good_value_and_documentation,
    )
    return {test.__name__: test for test in tests}
