"""requirements/*.lock installs with pip's hash checking (`make install`, the Dockerfile): a
dependency another package asks for with an extra is pinned with that extra, or pip refuses the
whole install as soon as a newer release of it exists (it did, for pip-audit's
CacheControl[filecache] when CacheControl 0.15.0 came out)."""

from __future__ import annotations

import importlib.metadata
import re

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.startup import REPO_DIR

LOCKS = ("requirements/base.lock", "requirements/dev.lock")


def pinned_with_extras(lock: str) -> dict[str, set[str]]:
    """Each package the lock pins, with the extras its line names."""
    text = (REPO_DIR / lock).read_text()
    pins: dict[str, set[str]] = {}
    for name, extras in re.findall(r"^([A-Za-z0-9._-]+)(?:\[([^\]]*)\])?==", text, re.M):
        pins[canonicalize_name(name)] = {e.strip() for e in extras.split(",") if e.strip()}
    return pins


def test_every_dependency_asked_for_with_an_extra_is_pinned_with_it():
    for lock in LOCKS:
        pins = pinned_with_extras(lock)
        for distribution in importlib.metadata.distributions():
            if canonicalize_name(distribution.metadata["Name"]) not in pins:
                continue
            for line in distribution.requires or []:
                requirement = Requirement(line)
                if not requirement.extras or "extra" in str(requirement.marker or ""):
                    continue  # no extra asked for, or only with an extra of the asking package
                name = canonicalize_name(requirement.name)
                assert name in pins, f"{lock}: {distribution.metadata['Name']} needs {line}"
                assert requirement.extras <= pins[name], (
                    f"{lock}: pin {requirement.name}[{','.join(sorted(requirement.extras))}]"
                    f" (asked for by {distribution.metadata['Name']}); make lock keeps extras"
                )
