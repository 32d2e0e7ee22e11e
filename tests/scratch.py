"""A scratch copy of the repository, as a fresh clone would have it, for tests that change it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parents[1]


def copy_repository(target: Path) -> Path:
    """What a fresh clone would hold (tracked and untracked, not ignored): no .env, no .venv."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_DIR,
        check=True,
        capture_output=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO_DIR / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target
