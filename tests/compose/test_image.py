"""The application image: what it holds, its size, and what a code change rebuilds."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from tests.compose.fixtures import BASE
from tests.compose.project import ComposeProject, docker
from tests.scratch import REPO_DIR

pytestmark = pytest.mark.compose

DEV_PACKAGES = ("pytest", "mypy", "ruff", "hypothesis", "yaml", "django_stubs_ext")


def layers(image: str) -> list[str]:
    found: list[str] = json.loads(docker("image", "inspect", image))[0]["RootFS"]["Layers"]
    return found


def run_in(image: str, code: str) -> str:
    return docker("run", "--rm", "--entrypoint", "python", image, "-c", code)


def test_the_runtime_image_holds_no_test_or_dev_only_code(built, report):
    size = json.loads(docker("image", "inspect", built))[0]["Size"]
    report.add(f"Runtime image: {size / 1e6:.0f} MB ({size} bytes)")
    found = run_in(
        built,
        "import importlib.util, pathlib; "
        f"print([m for m in {DEV_PACKAGES!r} if importlib.util.find_spec(m)], "
        "[p for p in ('/app/backend/devstack', '/app/devstack', '/app/tests', '/app/docs', "
        "'/app/.env') if pathlib.Path(p).exists()])",
    )
    assert found.strip() == "[] []"
    # What the image holds under /app: the backend without devstack, and the static files.
    listing = json.loads(
        run_in(
            built,
            "import json, os; print(json.dumps([sorted(os.listdir('/app')), "
            "sorted(os.listdir('/app/backend'))]))",
        )
    )
    backend = sorted(
        p.name
        for p in (REPO_DIR / "backend").iterdir()
        if p.name not in ("devstack", "__pycache__") and not p.name.startswith(".")
    )
    assert listing == [["backend", "staticfiles"], backend]


def test_a_code_change_reuses_the_dependency_layer(workspace: Path, built, run_id, report):
    copy = workspace.parent / f"{workspace.name}-changed"
    shutil.copytree(workspace, copy)
    (copy / "backend" / "config" / "urls.py").open("a").write("\n# a code change\n")
    image = f"{built}-changed"
    project = ComposeProject(copy, f"dct-rebuild-{run_id}", BASE, {"APP_IMAGE": image})
    try:
        started = time.monotonic()
        project.run("build", "migrate", timeout=900)
        took = time.monotonic() - started
        report.add(f"Rebuild after a code change: {took:.0f} s")
        before, after = layers(built), layers(image)
        base = len(layers("python:3.12-slim-bookworm"))
        # Everything up to the virtualenv (base image, app user, dependencies) is reused; only the
        # last two layers, the code and its collected static files, are new.
        assert len(after) == len(before) > base + 2
        assert after[:-2] == before[:-2]
        assert after[-2] != before[-2]
    finally:
        docker("image", "rm", "-f", image)
        shutil.rmtree(copy, ignore_errors=True)
