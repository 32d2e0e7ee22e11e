"""`make env` and `make env-example` (scripts/make_env.py): fresh secrets for every placeholder,
and .env.example's apps' part written from each app's own env.example."""

from __future__ import annotations

import io

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
    core = {"DJANGO_SECRET_KEY", "POSTGRES_PASSWORD", "REDIS_PASSWORD", "FLOWER_BASIC_AUTH"}
    assert core <= set(placeholders)  # and each app's, whichever are there
    assert all(values[name] not in (PLACEHOLDER, "") for name in placeholders)
    assert first != second  # generated, not fixed
    assert values["FLOWER_BASIC_AUTH"].startswith("admin:")
    # The generated .env starts in production (no secret left at its placeholder).
    result = start(manage("check", "--deploy", "--fail-level", "ERROR"), **values)
    assert result.returncode == 0, result.stderr


def test_a_removed_app_leaves_no_section_behind(tmp_path):
    # Given a project with the core's .env.example and two apps' sections written into it
    root = tmp_path / "project"
    own = (REPO_DIR / ".env.example").read_text().split(APPS_MARKER)[0]
    (root / "backend").mkdir(parents=True)
    (root / ".env.example").write_text(own)
    for app, variable in (("billing", "BILLING_API_KEY"), ("shipping", "SHIPPING_API_URL")):
        (root / "backend" / app).mkdir()
        (root / "backend" / app / "env.example").write_text(f"# --- {app}\n{variable}=\n")
    assert main(["--example", "--root", str(root)]) == 0
    assert "BILLING_API_KEY=" in (root / ".env.example").read_text()
    # When one app is removed, the file is stale until written again
    (root / "backend" / "billing" / "env.example").unlink()
    assert main(["--check", "--root", str(root)]) == 1
    assert main(["--example", "--root", str(root)]) == 0
    # Then its section is gone, the other's stays and the core's part is untouched
    text = (root / ".env.example").read_text()
    assert "BILLING_API_KEY" not in text
    assert "SHIPPING_API_URL=" in text
    assert text == example_text(root)
    assert text.split(APPS_MARKER)[0] == own
    # and leaving an app out by name does the same while its folder is still there
    assert "SHIPPING_API_URL" not in example_text(root, frozenset({"shipping"}))


def _stream(text: str) -> io.StringIO:
    return io.StringIO(text)
