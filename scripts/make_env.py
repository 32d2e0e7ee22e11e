"""Print a .env for local use with freshly generated secrets (`make env`), or write the apps' part
of .env.example from each app's own ``backend/<app>/env.example`` (`--example`; `--check` fails
when it is stale). Standard library only: it runs before the virtual environment exists.
"""

from __future__ import annotations

import argparse
import re
import secrets
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The value .env.example gives every secret (config.env.PLACEHOLDER_SECRET).
PLACEHOLDER = "change-me"
# Secrets that need a shape of their own; any other variable set to the placeholder gets a token.
GENERATED: dict[str, Callable[[], str]] = {
    "DJANGO_SECRET_KEY": lambda: secrets.token_urlsafe(50),
    "FLOWER_BASIC_AUTH": lambda: f"admin:{secrets.token_urlsafe(24)}",
}
# The line after which .env.example holds the apps' sections, written by --example.
APPS_MARKER = "# === The apps' variables, from each backend/<app>/env.example (make env-example)"


def secret_names(example: str) -> list[str]:
    """The secrets ``example`` holds, in order: each placeholder secret, and each API token (a
    variable named ``*_TOKEN``, left empty there)."""
    assignments = re.findall(r"^([A-Z0-9_]+)=(.*)$", example, re.M)
    return [name for name, value in assignments if value == PLACEHOLDER or name.endswith("_TOKEN")]


def env_text(example: str) -> str:
    """``example`` with every placeholder secret replaced by a fresh one."""
    lines = []
    for line in example.splitlines():
        match = re.match(r"^([A-Z0-9_]+)=(.*)$", line)
        if match and match[2] == PLACEHOLDER:
            line = f"{match[1]}={GENERATED.get(match[1], lambda: secrets.token_urlsafe(24))()}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def example_text(root: Path, without: frozenset[str] = frozenset()) -> str:
    """.env.example as it should be: its own part up to the marker, then the section of each app
    but those ``without``."""
    own = (root / ".env.example").read_text().split(APPS_MARKER, 1)[0].rstrip("\n")
    sections = [
        path.read_text().strip("\n")
        for path in sorted(root.glob("backend/*/env.example"))
        if path.parent.name not in without
    ]
    return "\n\n".join([own, APPS_MARKER, *sections]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--example", action="store_true", help="write the apps' part of .env.example"
    )
    parser.add_argument("--check", action="store_true", help="fail if .env.example is stale")
    parser.add_argument("--root", type=Path, default=ROOT)
    parser.add_argument(
        "--without", default="", help="apps whose section to leave out, comma-separated"
    )
    args = parser.parse_args(argv)
    path = args.root / ".env.example"
    if args.check:
        if path.read_text() != example_text(args.root):
            print(".env.example differs from the apps' env.example files: run make env-example")
            return 1
        return 0
    if args.example:
        without = frozenset(app for app in args.without.split(",") if app)
        path.write_text(example_text(args.root, without))
        return 0
    sys.stdout.write(env_text(path.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
