"""Turn a fresh copy of the template into the user's project (Copier's task, copier.yml).

Copier runs this in every render: the new project on `copier copy`, and on `copier update` the
old version's render, the project itself and the new version's render; the update is the diff
between those renders, so every step here gives the same result however often it runs. Standard
library only: it runs on the Python that runs Copier. See docs/new-project.md.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

# The name the template's own files carry wherever the project's name belongs.
TEMPLATE_NAME = "django-celery-template"
TEMPLATE_ONLY = re.compile(
    r"^[^\n]*>>> template only[^\n]*\n.*?^[^\n]*<<< template only[^\n]*\n", re.M | re.S
)
# Each example app: its API stand-in's compose service, and its variables' prefix.
EXAMPLE_APPS = {"whatsapp": "whatsapp-standin", "football_data": "football-data-standin"}
VARIABLE_PREFIXES = {"whatsapp": "WHATSAPP_", "football_data": "FOOTBALL_DATA_"}
SKIPPED_DIRS = {".git", ".venv", ".venv-py312", "var", "node_modules", "__pycache__"}


def remove_template_only_blocks(root: Path) -> None:
    """Drop what only the template repository runs (its generator tests) from the files that
    mark it between ``>>> template only`` and ``<<< template only`` lines."""
    for path in text_files(root):
        text = path.read_text()
        if ">>> template only" in text:
            path.write_text(TEMPLATE_ONLY.sub("", text))


def remove_app(root: Path, app: str) -> None:
    """Delete an example app the documented way: its folders, its stand-in and its
    INSTALLED_APPS line (docs/architecture.md, "Removing an example app")."""
    for folder in (root / "backend" / app, root / "tests" / app):
        shutil.rmtree(folder, ignore_errors=True)
    (root / "devstack" / "standins" / f"{app}.py").unlink(missing_ok=True)
    settings = root / "backend" / "config" / "settings.py"
    settings.write_text(settings.read_text().replace(f'    "{app}",\n', ""))
    override = root / "docker-compose.override.yml"
    # The service's block: its name at two spaces' indent, up to the next such line or the end.
    service = re.compile(rf"^  {re.escape(EXAMPLE_APPS[app])}:\n(?:(?:    .*|)\n)*", re.M)
    # The dev environment's lines pointing the app at its stand-in.
    variables = re.compile(rf"^  {VARIABLE_PREFIXES[app]}\w+: .*\n", re.M)
    text = variables.sub("", service.sub("", override.read_text()))
    override.write_text(text.rstrip("\n") + "\n")


def rename(root: Path, slug: str, description: str) -> None:
    """The project's name in package metadata, image and compose project names, and the rest."""
    name = slug.replace("_", "-")
    for path in text_files(root):
        text = path.read_text()
        if TEMPLATE_NAME in text:
            path.write_text(text.replace(TEMPLATE_NAME, name))
    pyproject = root / "pyproject.toml"
    pyproject.write_text(
        re.sub(
            r'^description = ".*"$',
            f"description = {toml_string(description)}",
            pyproject.read_text(),
            count=1,
            flags=re.M,
        )
    )


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
    env.write_text(generated)
    env.chmod(0o600)


def text_files(root: Path) -> list[Path]:
    """Every text file of the project, outside version control's and the tools' folders."""
    found = []
    for path in root.rglob("*"):
        if SKIPPED_DIRS.intersection(path.relative_to(root).parts) or not path.is_file():
            continue
        try:
            path.read_text()
        except UnicodeDecodeError:
            continue  # an image, not text
        found.append(path)
    return found


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
    for app in sorted(set(EXAMPLE_APPS) - keep):
        remove_app(root, app)
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
