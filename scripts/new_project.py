"""Turn a fresh copy of the template into the user's project (Copier's task, copier.yml).

Copier runs this in every render: the new project on `copier copy`, and on `copier update` the
old version's render, the project itself and the new version's render; the update is the diff
between those renders, so every step here gives the same result however often it runs. Standard
library only: it runs on the Python that runs Copier. See docs/new-project.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

# The name the template's own files carry wherever the project's name belongs.
TEMPLATE_NAME = "django-celery-template"
# A block the template runs and a project does not: from a comment line (`#` or `<!--`) opening
# it to the comment line closing it.
MARKER = r"^[ \t]*(?:#|<!--)[ \t]*{} template only[^\n]*\n"
TEMPLATE_ONLY = re.compile(MARKER.format(">>>") + ".*?" + MARKER.format("<<<"), re.M | re.S)
# The example apps, each kept or left out by its answer (copier.yml's _exclude and .jinja files).
EXAMPLE_APPS = ("whatsapp", "football_data")
SKIPPED_DIRS = {
    ".git",
    "var",
    "node_modules",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
    ".import_linter_cache",
}
# Copier's record of where the template lives: its address may well contain the template's name.
ANSWERS_FILE = ".copier-answers.yml"


def remove_template_only_blocks(root: Path) -> None:
    """Drop what only the template repository runs (its generator tests) from the files that
    mark it between ``>>> template only`` and ``<<< template only`` lines."""
    for path in text_files(root):
        text = read(path)
        if text is not None and ">>> template only" in text:
            write(path, TEMPLATE_ONLY.sub("", text))


def write_env_example(root: Path, removed: set[str]) -> None:
    """.env.example's apps' part from each app's env.example (scripts/make_env.py), but the
    removed apps': on `copier update`, Copier deletes their folders only after this runs."""
    script = root / "scripts" / "make_env.py"
    command = [sys.executable, str(script), "--example", "--root", str(root)]
    subprocess.run([*command, f"--without={','.join(sorted(removed))}"], check=True)


def write_kubernetes_secret(root: Path) -> None:
    """The Kubernetes Secret example's keys, the project's secrets as .env.example lists them:
    what `make kubernetes-manifests` writes, which needs the project installed."""
    path = root / "deploy" / "kubernetes" / "secret.example.yaml"
    if not path.exists():
        return
    spec = importlib.util.spec_from_file_location("make_env", root / "scripts" / "make_env.py")
    assert spec is not None
    assert spec.loader is not None
    make_env = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_env)
    names = make_env.secret_names((root / ".env.example").read_text())
    head = path.read_text().split("stringData:\n", 1)[0]
    lines = [f"  {name}: {make_env.PLACEHOLDER}  # pragma: allowlist secret\n" for name in names]
    path.write_text(head + "stringData:\n" + "".join(lines))


def rename(root: Path, slug: str, description: str) -> None:
    """The project's name in package metadata, image and compose project names, and the rest."""
    name = slug.replace("_", "-")
    for path in text_files(root):
        text = read(path)
        if text is not None and TEMPLATE_NAME in text:
            write(path, text.replace(TEMPLATE_NAME, name))
    pyproject = root / "pyproject.toml"
    line = f"description = {toml_string(description)}"
    # A function, not a replacement string: a backslash in the description stays a backslash.
    text = re.sub(
        r'^description = ".*"$', lambda _: line, pyproject.read_text(), count=1, flags=re.M
    )
    pyproject.write_text(text)


def set_example_values(root: Path, values: dict[str, str]) -> None:
    """The answers that are settings, as the values `.env.example` (and so `make env`) carries."""
    example = root / ".env.example"
    text = example.read_text()
    for variable, value in values.items():
        text = re.sub(rf"^{variable}=.*$", f"{variable}={value}", text, count=1, flags=re.M)
    example.write_text(text)


def place_readme(root: Path) -> None:
    """The project's README, rendered by Copier from scripts/project-README.md.jinja."""
    rendered = root / "scripts" / "project-README.md"
    if rendered.exists():
        rendered.replace(root / "README.md")


def write_env(root: Path) -> None:
    """A .env with fresh secrets, once: an existing one (the user's) is never touched."""
    env = root / ".env"
    if env.exists():
        return
    generated = subprocess.run(
        [sys.executable, str(root / "scripts" / "make_env.py")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    # Readable by the owner alone from the first byte on.
    with os.fdopen(os.open(env, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
        file.write(generated)


def text_files(root: Path) -> list[Path]:
    """Every file of the project outside version control's and the tools' folders, but the
    answers file."""
    return [
        path
        for path in root.rglob("*")
        if not SKIPPED_DIRS.intersection(path.relative_to(root).parts)
        and not any(part.startswith(".venv") for part in path.relative_to(root).parts)
        and path.is_file()
        and path.relative_to(root).as_posix() != ANSWERS_FILE
    ]


def read(path: Path) -> str | None:
    """The file's text as it is (line endings kept), or None for an image or an unreadable file."""
    try:
        with path.open(encoding="utf-8", newline="") as file:
            return file.read()
    except (UnicodeDecodeError, OSError):
        return None


def write(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8", newline="") as file:
        file.write(text)


def toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slug", required=True)
    parser.add_argument("--description", required=True)
    parser.add_argument("--domain", required=True)
    parser.add_argument("--io-concurrency", required=True)
    parser.add_argument("--cpu-concurrency", required=True)
    parser.add_argument("--keep", default="", help="the example apps to keep, comma-separated")
    parser.add_argument("root", type=Path, nargs="?", default=Path.cwd())
    args = parser.parse_args(argv)
    root = args.root.resolve()
    keep = {app for app in args.keep.split(",") if app}
    if keep - set(EXAMPLE_APPS):
        parser.error(f"--keep names no example app: {', '.join(sorted(keep - set(EXAMPLE_APPS)))}")

    remove_template_only_blocks(root)
    write_env_example(root, set(EXAMPLE_APPS) - keep)
    write_kubernetes_secret(root)
    rename(root, args.slug, args.description)
    set_example_values(
        root,
        {
            "DOMAIN": args.domain,
            "WORKER_IO_CONCURRENCY": args.io_concurrency,
            "WORKER_CPU_CONCURRENCY": args.cpu_concurrency,
        },
    )
    place_readme(root)
    write_env(root)


if __name__ == "__main__":
    main()
