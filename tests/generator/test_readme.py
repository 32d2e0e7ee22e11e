"""The template's README and `make help` agree: the README's table of make targets is make help's
list, target for target, with the same descriptions and times."""

from __future__ import annotations

import re

from tests.scratch import REPO_DIR
from tests.test_makefile import help_entries


def readme_targets() -> list[tuple[str, str]]:
    text = (REPO_DIR / "README.md").read_text()
    section = text.split("## Make targets\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `make ([\w-]+)` \| (.*) \|$", section, re.M)


def test_the_readme_lists_every_target_as_make_help_describes_it():
    assert readme_targets() == [(name, description) for name, description, _ in help_entries()]
