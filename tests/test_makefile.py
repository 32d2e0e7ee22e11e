"""The Makefile as a newcomer meets it: `make help` lists every target in aligned columns, and no
command make prints shows a shell default (``${NAME:-value}``) instead of the value it uses."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.scratch import REPO_DIR

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def make(*arguments: str) -> str:
    result = subprocess.run(
        ["make", "--no-print-directory", *arguments],
        cwd=REPO_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        # Values from this test run's environment would hide the defaults the Makefile prints.
        env={"PATH": "/usr/bin:/bin", "HOME": str(REPO_DIR)},
    )
    return result.stdout


def help_entries() -> list[tuple[str, str, int]]:
    """(target, description, the column the description starts at) for each line of make help."""
    entries = []
    for line in ANSI.sub("", make("help")).splitlines():
        match = re.fullmatch(r"  (\S+)( +)(\S.*)", line)
        assert match, f"not a help line: {line!r}"
        entries.append((match[1], match[3], match.start(3)))
    return entries


def documented_targets() -> list[str]:
    text = (REPO_DIR / "Makefile").read_text()
    return re.findall(r"^([a-zA-Z_-]+):.*## ", text, re.M)


def test_make_help_lists_every_documented_target_in_one_column():
    entries = help_entries()
    assert [name for name, _, _ in entries] == documented_targets()
    assert len({column for _, _, column in entries}) == 1, entries
    # The widest name still leaves a gap before its description.
    widest = max(entries, key=lambda entry: len(entry[0]))
    assert widest[2] >= 2 + len(widest[0]) + 2


@pytest.mark.parametrize("target", documented_targets())
def test_no_printed_command_holds_an_unexpanded_variable(target):
    # `make -n` prints every command the target would run, the silent ones too.
    printed = make("-n", target, "BACKUP=example.dump")
    assert "${" not in printed, printed
