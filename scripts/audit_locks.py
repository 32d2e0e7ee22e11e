"""Audit requirements/*.lock with pip-audit (make lint): fail on a known vulnerability, and fail
just as loudly when the vulnerability service could not be asked about every package.

Extra arguments (``--ignore-vuln ID``, ``-s osv``) go to pip-audit. AUDIT_UNREACHABLE_OK=1 turns
"could not audit" into a printed warning, for a machine that reaches no vulnerability service.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
LOCKS = ("requirements/base.lock", "requirements/dev.lock")


def main(extra_args: list[str]) -> int:
    command = [sys.executable, "-m", "pip_audit", "--disable-pip", "--require-hashes"]
    for lock in LOCKS:
        command += ["-r", lock]
    command += ["--format", "json", "--progress-spinner", "off", *extra_args]
    result = subprocess.run(
        command, cwd=REPO_DIR, capture_output=True, text=True, timeout=300, check=False
    )
    try:
        dependencies = json.loads(result.stdout)["dependencies"]
    except (json.JSONDecodeError, KeyError):
        last_line = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return unaudited(f"pip-audit stopped: {last_line}")

    vulnerable = [d for d in dependencies if d.get("vulns")]
    for dependency in vulnerable:
        for vuln in dependency["vulns"]:
            fixed_in = ", ".join(vuln["fix_versions"]) or "no release yet"
            name = f"{dependency['name']} {dependency['version']}"
            print(f"{name}: {vuln['id']}, fixed in {fixed_in}")
    if vulnerable:
        print(
            "Known vulnerabilities in the locks: raise the pins (make lock), or add"
            " `--ignore-vuln ID` with a comment saying why to .pre-commit-config.yaml."
        )
        return 1

    skipped = [d for d in dependencies if "skip_reason" in d]
    if skipped:
        return unaudited(
            f"{len(skipped)} of {len(dependencies)} locked packages could not be audited,"
            f" e.g. {skipped[0]['skip_reason']}"
        )
    print(f"pip-audit: {len(dependencies)} locked packages, no known vulnerabilities.")
    return 0


def unaudited(reason: str) -> int:
    print(
        f"The locks were NOT audited: {reason}\n"
        "Its vulnerability service (PyPI's per-release JSON API; OSV with `-s osv`) must answer."
    )
    if os.environ.get("AUDIT_UNREACHABLE_OK") == "1":
        print("AUDIT_UNREACHABLE_OK=1: passing anyway. Audit where the service is reachable.")
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
