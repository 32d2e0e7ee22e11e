"""The Copier template as users meet it: a git repository at a commit, copied and updated with
the real `copier` command, answers given as `-d` data (docs/new-project.md)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.scratch import copy_repository

COPIER = Path(sys.executable).with_name("copier")
# A commit needs an author, whatever the machine's git configuration says.
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Template Test",
    "GIT_AUTHOR_EMAIL": "template-test@example.com",
    "GIT_COMMITTER_NAME": "Template Test",
    "GIT_COMMITTER_EMAIL": "template-test@example.com",
}
# Nothing of this test run's own configuration leaks into a generated project's commands.
LEAKED = (
    "DATABASE_URL",
    "TEST_DATABASE_URL",
    "TEST_POSTGRES",
    "PYTEST",
    "DJANGO",
    "REDIS",
    "GENERATOR_TESTS",
    "COMPOSE_TESTS",
    "FAULT_TESTS",
    "TEST_NOW",
    "TEST_CLOCK_OFFSET",
    "VIRTUAL_ENV",
    # An outer make (make test-generator) would make the project's make print its directories.
    "MAKEFLAGS",
    "MFLAGS",
    "MAKELEVEL",
    "MAKEOVERRIDES",
)

MODES = {
    "full": {"keep_whatsapp": True, "keep_football_data": True},
    "none": {"keep_whatsapp": False, "keep_football_data": False},
    "whatsapp": {"keep_whatsapp": True, "keep_football_data": False},
    "football_data": {"keep_whatsapp": False, "keep_football_data": True},
}


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(LEAKED)}
    return {**env, **GIT_ENV, **(extra or {})}


def run(
    cwd: Path,
    *command: str | Path,
    timeout: float = 600,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(c) for c in command],
        cwd=cwd,
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check:
        assert result.returncode == 0, (
            f"{' '.join(map(str, command))} exited {result.returncode}:\n"
            f"{(result.stdout + result.stderr)[-6000:]}"
        )
    return result


def template_repository(target: Path) -> Path:
    """This repository as a fresh clone holds it, committed: Copier copies commits, not files."""
    copy_repository(target)
    run(target, "git", "init", "--quiet", "--initial-branch=main")
    commit_all(target, "The template")
    return target


def commit_all(repository: Path, message: str) -> str:
    run(repository, "git", "add", "--all")
    run(repository, "git", "commit", "--quiet", "--no-verify", "-m", message)
    return run(repository, "git", "rev-parse", "HEAD").stdout.strip()


@dataclass
class Generated:
    path: Path
    seconds: float

    def files(self) -> list[Path]:
        return [p for p in self.path.rglob("*") if p.is_file() and ".git" not in p.parts]

    def lines(self) -> int:
        total = 0
        for path in self.files():
            try:
                total += len(path.read_text().splitlines())
            except UnicodeDecodeError:
                continue
        return total


def answers(mode: str = "full", **overrides: object) -> dict[str, object]:
    return {"project_name": "Acme Shop", "domain": "shop.example.com", **MODES[mode], **overrides}


def copier(
    cwd: Path, *arguments: str | Path, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return run(cwd, COPIER, *arguments, check=check, timeout=300)


def data_options(values: dict[str, object]) -> list[str]:
    options = []
    for key, value in values.items():
        options += ["--data", f"{key}={str(value).lower() if isinstance(value, bool) else value}"]
    return options


def generate(
    template: Path, destination: Path, values: dict[str, object], ref: str = "HEAD"
) -> Generated:
    """`copier copy` from the template's commit ``ref``, as a user runs it, then the project's
    first commit (what `copier update` later needs)."""
    started = time.monotonic()
    copier(
        destination.parent,
        "copy",
        "--trust",
        "--defaults",
        "--vcs-ref",
        ref,
        *data_options(values),
        template,
        destination,
    )
    seconds = time.monotonic() - started
    run(destination, "git", "init", "--quiet", "--initial-branch=main")
    commit_all(destination, "From the template")
    return Generated(destination, seconds)
