"""scripts/audit_locks.py (the pip-audit hook of `make lint`) where no vulnerability service
answers: one line that says what happened and what to do, and AUDIT_UNREACHABLE_OK=1 passes it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.compose import REPO_DIR
from devstack.redis_server import free_port

PROXIES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy")


def audit(tmp_path: Path, *args: str, unreachable_ok: bool) -> subprocess.CompletedProcess[str]:
    """The hook's command, every request sent to a loopback port nothing listens on."""
    env = {k: v for k, v in os.environ.items() if k not in PROXIES}
    env.pop("AUDIT_UNREACHABLE_OK", None)
    closed = f"http://127.0.0.1:{free_port()}"
    env.update(HTTPS_PROXY=closed, https_proxy=closed)
    if unreachable_ok:
        env["AUDIT_UNREACHABLE_OK"] = "1"
    return subprocess.run(
        # A cache of its own: answers cached by an earlier audit would need no service.
        [sys.executable, "scripts/audit_locks.py", "--cache-dir", str(tmp_path), *args],
        cwd=REPO_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_without_a_vulnerability_service_the_audit_fails_in_one_line_saying_what_to_do(tmp_path):
    result = audit(tmp_path, unreachable_ok=False)

    assert result.returncode == 1
    (line,) = result.stdout.splitlines()
    assert line.startswith("pip-audit: the locks were NOT audited, no vulnerability service")
    assert line.endswith(
        "; set AUDIT_UNREACHABLE_OK=1 to pass without an audit (docs/security.md)."
    )


def test_audit_unreachable_ok_passes_it_and_still_says_nothing_was_audited(tmp_path):
    result = audit(tmp_path, unreachable_ok=True)

    assert result.returncode == 0
    (line,) = result.stdout.splitlines()
    assert "the locks were NOT audited" in line
    assert line.endswith("; passing because AUDIT_UNREACHABLE_OK=1 (docs/security.md).")


@pytest.mark.parametrize("unreachable_ok", [False, True])
def test_arguments_pip_audit_refuses_fail_even_with_audit_unreachable_ok(tmp_path, unreachable_ok):
    # An --ignore-vuln without its ID in the hook's args is a mistake, not a missing service
    result = audit(tmp_path, "--ignore-vuln", unreachable_ok=unreachable_ok)

    assert result.returncode == 1
    assert result.stdout == (
        "pip-audit refused its arguments: pip-audit: error: argument --ignore-vuln: expected one"
        " argument\n"
    )
