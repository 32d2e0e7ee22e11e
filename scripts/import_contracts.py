"""The import contracts, checked by import-linter (`make lint` runs this through pre-commit).

Written from what is in backend/, so deleting an example app needs no edit here:
- runtime code (the core and the apps) imports no dev tooling (devstack, tests, bench, scripts):
  the image carries none of it;
- no package's modules import each other in a cycle;
- the core (config, ops) imports no app;
- apps import each other only through an integration module named after the other app
  (``<app>/<other app>_commands.py``), which may use only that app's ``commands`` module;
- a package that declares layers (``LAYERS`` in its ``__init__.py``, read without importing it)
  imports only downwards through them.

``--backend DIR`` checks another backend folder (the tests' own, with an import to refuse).
"""

from __future__ import annotations

import argparse
import ast
import sys
import tempfile
from pathlib import Path

from importlinter.cli import lint_imports

BACKEND = Path(__file__).resolve().parent.parent / "backend"
CORE = ("config", "ops")
NOT_APPS = set(CORE)
# The repository's top-level packages that are tooling, never deployed (the repository root is on
# sys.path in development, so an import of them would work there and fail in the image).
DEV_TOOLING = ("devstack", "tests", "bench", "scripts")


def example_apps(backend: Path = BACKEND) -> list[str]:
    return sorted(
        p.name for p in backend.iterdir() if (p / "apps.py").exists() and p.name not in NOT_APPS
    )


def declared_layers(packages: list[str], backend: Path = BACKEND) -> dict[str, list[str]]:
    """The packages under ``packages`` whose ``__init__.py`` sets ``LAYERS``: their modules in
    layers, top to bottom (a module imports only from the layers below its own; ``|`` separates
    modules of one layer that import neither each other)."""
    found = {}
    for package in packages:
        for init in sorted((backend / package).rglob("__init__.py")):
            for node in ast.parse(init.read_text(), str(init)).body:
                if isinstance(node, ast.Assign) and any(
                    isinstance(target, ast.Name) and target.id == "LAYERS"
                    for target in node.targets
                ):
                    container = ".".join(init.parent.relative_to(backend).parts)
                    found[container] = list(ast.literal_eval(node.value))
    return found


def _items(values: list[str] | tuple[str, ...]) -> str:
    return "".join(f"\n    {value}" for value in values)


def contracts(apps: list[str], backend: Path = BACKEND) -> str:
    packages = [*CORE, *apps]
    lines = [
        "[importlinter]",
        f"root_packages ={_items(packages)}",
        # Imports of anything outside backend/ in the graph too: the dev tooling among them.
        "include_external_packages = True",
        "[importlinter:contract:no-dev-tooling]",
        "name = Runtime code (backend/) imports no dev tooling",
        "type = forbidden",
        f"source_modules ={_items(packages)}",
        f"forbidden_modules ={_items(DEV_TOOLING)}",
        "[importlinter:contract:acyclic]",
        "name = No package's modules import each other in a cycle",
        "type = acyclic_siblings",
        f"ancestors ={_items(packages)}",
    ]
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
    for container, layers in declared_layers(packages, backend).items():
        lines += [
            f"[importlinter:contract:layers-{container}]",
            f"name = The layers of {container}, top to bottom",
            "type = layers",
            f"containers ={_items([container])}",
            f"layers ={_items(layers)}",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", type=Path, default=BACKEND, help="default: backend/")
    backend = parser.parse_args(argv).backend.resolve()
    sys.path.insert(0, str(backend))
    with tempfile.NamedTemporaryFile("w", suffix=".ini", delete=False) as config:
        config.write(contracts(example_apps(backend), backend))
    try:
        return lint_imports(config_filename=config.name, no_cache=True, no_logo=True)
    finally:
        Path(config.name).unlink()


if __name__ == "__main__":
    raise SystemExit(main())
