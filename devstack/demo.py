"""`make demo`: each app's demo through the running stack (`make run` or `docker compose up`).

An app's demo is a module of devstack/demos named after the app, with a ``run(base_url)``: found
by its file, it comes and goes with the app. Demos drive the project from outside (``manage.py``
commands, HTTP); runtime code never imports them (scripts/import_contracts.py).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import subprocess
import sys

from devstack import demos


def demo_names() -> list[str]:
    """The apps with a demo, in name order."""
    found = pkgutil.iter_modules(demos.__path__)
    return sorted(module.name for module in found if not module.name.startswith("_"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--base-url",
        default="http://127.0.0.1:8000",
        help="where web answers (make demo passes DEMO_BASE_URL)",
    )
    args = parser.parse_args(argv)
    names = demo_names()
    if not names:
        print("demo: no app has a demo (an app's is devstack/demos/<app>.py, with run(base_url)).")
        return 0
    for name in names:
        print(f"demo: {name}", flush=True)
        module = importlib.import_module(f"{demos.__name__}.{name}")
        try:
            module.run(args.base_url)
        except subprocess.CalledProcessError as error:
            print(f"demo: {name}'s demo failed: {error}", file=sys.stderr)
            return error.returncode if error.returncode > 0 else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
