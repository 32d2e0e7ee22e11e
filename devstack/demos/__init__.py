"""Each app's demo for `make demo` (devstack/demo.py): a module named after the app, whose
``run(base_url)`` drives the running stack from outside, e.g. by the app's ``manage.py``
commands (:func:`manage`) and HTTP to web at ``base_url``. A step that fails raises
``subprocess.CalledProcessError``, which ends `make demo` with the step's exit status.
"""

from __future__ import annotations

import subprocess
import sys

from devstack.compose import REPO_DIR


def manage(*arguments: str, stdin: str | None = None) -> None:
    """``manage.py`` with these arguments, on this Python and the environment as it is (.env
    included, as config.settings reads it); ``stdin`` is the text it reads."""
    command = [sys.executable, str(REPO_DIR / "backend" / "manage.py"), *arguments]
    subprocess.run(command, cwd=REPO_DIR, input=stdin, text=True, check=True)
