"""scripts/import_contracts.py (the import-linter hook of `make lint`): the repository's backend
keeps its contracts, and a backend that imports dev tooling or imports in a cycle breaks them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from devstack.compose import REPO_DIR
from scripts.import_contracts import CORE, declared_layers, example_apps

SCRIPT = REPO_DIR / "scripts" / "import_contracts.py"


def check(backend: Path | None = None) -> subprocess.CompletedProcess[str]:
    args = [] if backend is None else ["--backend", str(backend)]
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=REPO_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def backend_with(tmp_path: Path, files: dict[str, str]) -> Path:
    """A backend of a core (config, ops) and one app, ``shop``, with these modules in it."""
    backend = tmp_path / "backend"
    for name in ("config/__init__.py", "ops/__init__.py", "shop/__init__.py", "shop/apps.py"):
        (backend / name).parent.mkdir(parents=True, exist_ok=True)
        (backend / name).write_text("")
    for name, text in files.items():
        (backend / name).parent.mkdir(parents=True, exist_ok=True)
        (backend / name).write_text(text)
    return backend


def test_the_repository_keeps_its_contracts():
    result = check()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Runtime code (backend/) imports no dev tooling KEPT" in result.stdout
    assert "No package's modules import each other in a cycle KEPT" in result.stdout
    for container in declared_layers([*CORE, *example_apps()]):
        assert f"The layers of {container}, top to bottom KEPT" in result.stdout


def test_a_backend_without_offences_keeps_them(tmp_path):
    # Given an app whose modules import each other one way only, and no dev tooling
    backend = backend_with(tmp_path, {"shop/a.py": "from shop import b\n", "shop/b.py": ""})
    # Then every contract is kept (and no package declares layers, so none are checked)
    result = check(backend)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "The layers of" not in result.stdout


def test_a_lower_layer_importing_a_higher_one_breaks_the_layers_its_package_declares(tmp_path):
    # Given a package of the app that declares two layers, the lower importing the higher
    backend = backend_with(
        tmp_path,
        {
            "shop/services/__init__.py": 'LAYERS = ("sending", "claim")\n',
            "shop/services/sending.py": "",
            "shop/services/claim.py": "from shop.services import sending\n",
        },
    )
    # Then the check fails on that package's layers and names the import
    result = check(backend)
    assert result.returncode == 1
    assert "The layers of shop.services, top to bottom BROKEN" in result.stdout
    assert "shop.services.claim -> shop.services.sending" in result.stdout


@pytest.mark.parametrize(
    "statement", ["from devstack.run import main", "import tests.stack", "import bench.common"]
)
def test_runtime_code_importing_dev_tooling_breaks_the_contract(tmp_path, statement):
    # Given an app module that needs dev tooling (inside a function: still an import)
    backend = backend_with(tmp_path, {"shop/demo.py": f"def seed():\n    {statement}\n"})
    # Then the check fails and names the import
    result = check(backend)
    assert result.returncode == 1
    assert "Runtime code (backend/) imports no dev tooling BROKEN" in result.stdout
    assert "shop.demo -> " in result.stdout


def test_modules_importing_each_other_break_the_contract_even_lazily(tmp_path):
    # Given two modules of the app, the second importing the first inside a function
    backend = backend_with(
        tmp_path,
        {
            "shop/sending.py": "from shop import statuses\n",
            "shop/statuses.py": "def apply():\n    from shop.sending import send\n",
        },
    )
    # Then the check fails and names the package with the cycle
    result = check(backend)
    assert result.returncode == 1
    assert "No package's modules import each other in a cycle BROKEN" in result.stdout
    assert "No cycles are allowed in shop" in result.stdout
