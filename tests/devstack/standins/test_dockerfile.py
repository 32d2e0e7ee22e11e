"""The stand-ins' own Dockerfile (devstack/standins/Dockerfile): only the dev tooling, on the
app's dependencies, built the way the app's builder builds them so that the two share layers."""

from __future__ import annotations

import re

from devstack.compose import REPO_DIR

APP = (REPO_DIR / "Dockerfile").read_text()
STANDINS = (REPO_DIR / "devstack" / "standins" / "Dockerfile").read_text()


def stage(dockerfile: str, name: str) -> list[str]:
    """The instructions of stage ``name``, without comments or blank lines."""
    body = re.split(rf"^FROM \S+ AS {name}$", dockerfile, flags=re.MULTILINE)[1]
    body = re.split(r"^FROM ", body, flags=re.MULTILINE)[0]
    return [line for line in body.splitlines() if line.strip() and not line.startswith("#")]


def test_the_builder_is_the_apps_builder_step_for_step():
    assert stage(STANDINS, "builder") == stage(APP, "builder")


def test_the_image_copies_the_dev_tooling_only_and_runs_as_a_user():
    copied = re.findall(r"^COPY (?!--from)(\S+)", STANDINS, flags=re.MULTILINE)
    assert copied == ["requirements/base.lock", "devstack/"]
    assert STANDINS.rstrip().splitlines()[-1] == "USER 10001:10001"
