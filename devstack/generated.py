"""Writes generated files (the systemd units, the Kubernetes manifests) into their folder,
replacing what an earlier run wrote there."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


def replace_files(directory: Path, stale: str, files: Mapping[str, str]) -> list[Path]:
    """Delete the files matching the glob ``stale``, then write ``files`` (name to text)."""
    directory.mkdir(parents=True, exist_ok=True)
    for path in directory.glob(stale):
        path.unlink()
    written = []
    for filename, text in files.items():
        path = directory / filename
        path.write_text(text)
        written.append(path)
    return written
