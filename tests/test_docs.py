"""The docs name only what exists: every Python name (``config.queues.CORE_ROUTES``), check id
(``ops.E007``) and repository path (``tests/starter/test_tasks.py``) they mention, and no path
outside the repository (a checkout's own folders, or ``../`` past its root).

Names are checked without importing anything: a module is a file, a name in it one defined,
imported or assigned at its top level (or an attribute of a class there). A name deeper than
that is taken as it is. The packages are those in backend/, so an app's names are checked while
it is there; an app's doc (docs/<app>.md) goes with the app (docs/operations.md).
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BACKEND = REPO / "backend"
DOCS = [*sorted((REPO / "docs").glob("*.md")), REPO / "README.md"]
BACKEND_PACKAGES = tuple(sorted(init.parent.name for init in BACKEND.glob("*/__init__.py")))
TOOLING = ("devstack", "bench", "tests", "scripts")
FOLDERS = (
    *BACKEND_PACKAGES,
    *TOOLING,
    "backend",
    "deploy",
    "docs",
    "requirements",
    ".ci",
    ".github",
)
# Files of the template that a generated project (no copier.yml) does not carry, and that
# docs/new-project.md describes all the same.
TEMPLATE_FILES = ("scripts/new_project.py",)
# A dotted word ending in one of these is a file name (``config.yaml``), not a Python name.
FILE_SUFFIXES = {"cfg", "conf", "ini", "jinja", "json", "lock", "md", "png", "py", "sh", "toml",
                 "txt", "yaml", "yml"}  # fmt: skip

_LEFT = r"(?<![\w./<>{}*-])"  # not inside a longer path, URL, placeholder or glob
PYTHON_NAME = re.compile(
    _LEFT + rf"((?:{'|'.join(BACKEND_PACKAGES + TOOLING)})(?:\.[A-Za-z_]\w*)+)(?![\w/<>{{}}-]|\.\w)"
)
CHECK_ID = re.compile(r"^\w+\.[EW]\d{3}$")
PATH = re.compile(_LEFT + rf"((?:{'|'.join(map(re.escape, FOLDERS))})/[\w./-]*)(?![\w<>{{}}*…])")
OUTSIDE = re.compile(r"(?<![\w.~-])(?:/(?:work|home|Users|root)/|~/)\S*|(?<![\w.-])\.\./[\w.-]+")


def test_the_docs_are_found():
    assert len(DOCS) > 5
    assert all(doc.is_file() for doc in DOCS)


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: doc.name)
def test_a_doc_names_only_python_names_that_exist(doc):
    missing = [
        f"{doc.name}:{line}: {name}"
        for line, name in _found(doc, PYTHON_NAME)
        if not _skipped(name) and not _exists(name)
    ]
    assert missing == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: doc.name)
def test_a_doc_names_only_repository_paths_that_exist(doc):
    missing = [
        f"{doc.name}:{line}: {path}"
        for line, path in _found(doc, PATH)
        if not _skipped(path) and not _path_exists(path.rstrip("."))
    ]
    assert missing == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: doc.name)
def test_a_doc_names_no_path_outside_the_repository(doc):
    outside = [
        f"{doc.name}:{number}: {path}"
        for number, line in enumerate(doc.read_text().splitlines(), start=1)
        for path in _outside(doc, line)
    ]
    assert outside == []


@pytest.mark.parametrize(
    ("text", "found"),
    [
        (
            "`config.queues.CORE_ROUTES` and ops.checks.",
            ["config.queues.CORE_ROUTES", "ops.checks"],
        ),
        ("the `starter.tasks.*` names, `config.yaml`", ["starter.tasks", "config.yaml"]),
        ("`https://x.example/starter.tasks`, `backend/ops/checks.py`", []),
    ],
)
def test_python_names_are_read_as_a_reader_would(text, found):
    assert [m.group(1) for m in PYTHON_NAME.finditer(text)] == found


@pytest.mark.parametrize(
    ("name", "exists"),
    [
        ("config.queues.CORE_ROUTES", True),
        ("config.queues.Queue.IO", True),
        ("config.queues.TASK_ROUTES", False),
        ("config.queues.Queue.BULK", False),
        ("ops.no_such_module", False),
        ("tests.stack.wait_until", True),
        ("ops.E001", True),
        ("ops.E999", False),
    ],
)
def test_a_name_exists_when_its_module_defines_it(name, exists):
    assert _exists(name) is exists


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("`cd backend && ../.venv/bin/python manage.py`, [x](../README.md)", []),
        (
            "`../shared/tools/engine.sh`, in /work/main, ~/src",
            ["../shared", "/work/main,", "~/src"],
        ),
        ("`/tmp/gunicorn.ctl`, `/app/backend`, `/srv/shop`", []),
    ],
)
def test_paths_outside_the_repository_are_told_apart(text, found):
    assert _outside(REPO / "docs" / "operations.md", text) == found


def _found(doc: Path, pattern: re.Pattern[str]) -> list[tuple[int, str]]:
    return [
        (number, match.group(match.lastindex or 0))
        for number, line in enumerate(doc.read_text().splitlines(), start=1)
        for match in pattern.finditer(line)
    ]


def _skipped(reference: str) -> bool:
    """A template file, in a generated project."""
    generated = not (REPO / "copier.yml").exists()
    return generated and reference.rstrip("/.") in TEMPLATE_FILES


def _path_exists(path: str) -> bool:
    first = path.split("/")[0]
    return (REPO / path).exists() or (first in BACKEND_PACKAGES and (BACKEND / path).exists())


def _outside(doc: Path, text: str) -> list[str]:
    """The paths outside the repository in ``text``: a checkout's own folders, and ``../`` paths
    found neither from the doc's folder nor from a folder of the repository's top (backend/,
    where the docs' commands run manage.py; ``.venv`` is the repository's too)."""
    return [
        path
        for path in OUTSIDE.findall(text)
        if not path.startswith("../")
        or not (
            (doc.parent / path).exists()
            or (REPO / path.removeprefix("../").split("/")[0]).exists()
            or path == "../.venv"
        )
    ]


def _exists(name: str) -> bool:
    parts = name.split(".")
    if parts[-1] in FILE_SUFFIXES:
        return True  # a file's name: the path checks see to files
    if CHECK_ID.match(name):
        return _check_id_defined(name)
    for end in range(len(parts), 0, -1):
        module = _module_file(tuple(parts[:end]))
        if module is None:
            continue
        rest = parts[end:]
        if not rest:
            return True
        defined = _top_level(module)
        if rest[0] not in defined:
            return False
        node = defined[rest[0]]
        if len(rest) == 2 and isinstance(node, ast.ClassDef):
            return rest[1] in _names(node.body)
        return True  # an attribute of something else: taken as it is
    return False


def _module_file(parts: tuple[str, ...]) -> Path | None:
    base = BACKEND if parts[0] in BACKEND_PACKAGES else REPO
    path = base.joinpath(*parts)
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    return None


@cache
def _top_level(module: Path) -> dict[str, ast.AST]:
    return _names(ast.parse(module.read_text()).body)


def _names(body: list[ast.stmt]) -> dict[str, ast.AST]:
    """What a module or class body defines, imports or assigns, also under ``if`` and ``try``."""
    found: dict[str, ast.AST] = {}
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found[node.name] = node
        elif isinstance(node, ast.Import | ast.ImportFrom):
            found.update({(a.asname or a.name).split(".")[0]: node for a in node.names})
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            found.update(
                {n.id: node for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
            )
        elif isinstance(node, ast.If | ast.Try):
            for block in (node.body, node.orelse, getattr(node, "finalbody", [])):
                found.update(_names(block))
            for handler in getattr(node, "handlers", []):
                found.update(_names(handler.body))
    return found


@cache
def _check_id_defined(check_id: str) -> bool:
    app = BACKEND / check_id.split(".")[0]
    return any(f'"{check_id}"' in path.read_text() for path in app.rglob("*.py"))
