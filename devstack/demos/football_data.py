"""football_data's demo: the API stand-in's matches around today stored, and 50 tickets opened
on them (``manage.py football_data_demo``), so that the admin shows content at once."""

from __future__ import annotations

import subprocess
import sys

from devstack.compose import REPO_DIR
from devstack.demos import manage


def run(base_url: str) -> None:
    # The stand-in prints the matches and exits: no server needed, web's address unused.
    matches = subprocess.run(
        [sys.executable, "-m", "devstack.standins.football_data", "--print-matches"],
        cwd=REPO_DIR,
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    ).stdout
    manage("football_data_demo", "--tickets", "50", "--matches", "-", stdin=matches)
