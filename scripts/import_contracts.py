"""The import contracts, checked by import-linter (`make lint` runs this through pre-commit).

Written from what is in backend/, so deleting an example app needs no edit here:
- the core (config, ops) imports no app;
- apps import each other only through an integration module named after the other app
  (``football_data/whatsapp_commands.py``), which may use only that app's ``commands`` module.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from importlinter.cli import lint_imports

BACKEND = Path(__file__).resolve().parent.parent / "backend"
CORE = ("config", "ops")
NOT_APPS = set(CORE)


def example_apps() -> list[str]:
    return sorted(
        p.name for p in BACKEND.iterdir() if (p / "apps.py").exists() and p.name not in NOT_APPS
    )


def _items(values: list[str] | tuple[str, ...]) -> str:
    return "".join(f"\n    {value}" for value in values)


def contracts(apps: list[str]) -> str:
    lines = ["[importlinter]", f"root_packages ={_items([*CORE, *apps])}"]
    if apps:
        lines += [
            "[importlinter:contract:core]",
            "name = The core (config, ops) imports no example app",
            "type = forbidden",
            f"source_modules ={_items(CORE)}",
            f"forbidden_modules ={_items(apps)}",
        ]
    if len(apps) > 1:
        allowed = [f"{a}.{b}_commands -> {b}.commands" for a in apps for b in apps if a != b]
        lines += [
            "[importlinter:contract:apps]",
            "name = Example apps meet only through the other app's commands module",
            "type = independence",
            f"modules ={_items(apps)}",
            f"ignore_imports ={_items(allowed)}",
            "unmatched_ignore_imports_alerting = none",
        ]
    return "\n".join(lines) + "\n"


def main() -> int:
    sys.path.insert(0, str(BACKEND))
    with tempfile.NamedTemporaryFile("w", suffix=".ini", delete=False) as config:
        config.write(contracts(example_apps()))
    try:
        return lint_imports(config_filename=config.name, no_cache=True, no_logo=True)
    finally:
        Path(config.name).unlink()


if __name__ == "__main__":
    raise SystemExit(main())
