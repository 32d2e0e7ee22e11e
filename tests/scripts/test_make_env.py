"""`make env` and `make env-example` (scripts/make_env.py): fresh secrets for every placeholder,
and .env.example's apps' part written from each app's own env.example."""

from __future__ import annotations

import io
import shutil

from dotenv import dotenv_values

from scripts.make_env import APPS_MARKER, PLACEHOLDER, env_text, example_text, main
from tests.startup import BACKEND, REPO_DIR, manage, start


def test_the_committed_env_example_holds_every_apps_section():
    assert main(["--check"]) == 0, "run make env-example"
    text = (REPO_DIR / ".env.example").read_text()
    for section in BACKEND.glob("*/env.example"):
        assert section.read_text().strip() in text.split(APPS_MARKER, 1)[1], section


def test_every_placeholder_secret_gets_a_fresh_value_that_production_accepts():
    example = (REPO_DIR / ".env.example").read_text()
    first, second = env_text(example), env_text(example)

    values = {k: v for k, v in dotenv_values(stream=_stream(first)).items() if v is not None}
    placeholders = [
        k for k, v in dotenv_values(stream=_stream(example)).items() if v == PLACEHOLDER
    ]
    assert len(placeholders) >= 5  # the core's and the apps' secrets
    assert all(values[name] not in (PLACEHOLDER, "") for name in placeholders)
    assert first != second  # generated, not fixed
    assert values["FLOWER_BASIC_AUTH"].startswith("admin:")
    # The generated .env starts in production (no secret left at its placeholder).
    result = start(manage("check", "--deploy", "--fail-level", "ERROR"), **values)
    assert result.returncode == 0, result.stderr


def test_a_removed_app_leaves_no_section_behind(tmp_path):
    root = tmp_path / "project"
    (root / "backend").mkdir(parents=True)
    shutil.copy(REPO_DIR / ".env.example", root / ".env.example")
    for section in BACKEND.glob("*/env.example"):
        (root / "backend" / section.parent.name).mkdir()
        shutil.copy(section, root / "backend" / section.parent.name / "env.example")
    removed = sorted(BACKEND.glob("*/env.example"))[0]
    (root / "backend" / removed.parent.name / "env.example").unlink()

    assert main(["--check", "--root", str(root)]) == 1
    assert main(["--example", "--root", str(root)]) == 0

    text = (root / ".env.example").read_text()
    assert removed.read_text().strip() not in text
    assert text == example_text(root)
    assert (
        text.split(APPS_MARKER)[0] == (REPO_DIR / ".env.example").read_text().split(APPS_MARKER)[0]
    )


def _stream(text: str) -> io.StringIO:
    return io.StringIO(text)
