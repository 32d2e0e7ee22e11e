"""The layers whatsapp.services declares are checked by the import contracts (`make lint`)."""

from __future__ import annotations

import subprocess
import sys

from devstack.compose import REPO_DIR


def test_the_services_layers_are_declared_and_kept():
    result = subprocess.run(
        [sys.executable, str(REPO_DIR / "scripts" / "import_contracts.py")],
        cwd=REPO_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "The layers of whatsapp.services, top to bottom KEPT" in result.stdout
