"""The Copier template's output, checked file by file: names, answers, secrets, modes, validation
and `copier update` (real `copier` runs from a committed copy of this repository). Running each
mode's own suite and containers is `make test-generator` (test_modes.py)."""

from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from jinja2.sandbox import SandboxedEnvironment

from devstack.redis_server import PrivateRedis, free_port
from scripts.new_project import ANSWERS_FILE, TEMPLATE_NAME, TEMPLATE_ONLY
from tests.generator.template import (
    clean_env,
    commit_all,
    copier,
    data_options,
    generate,
    run,
    template_repository,
)
from tests.scratch import REPO_DIR

pytestmark = pytest.mark.processes

PROJECT_NAME = "acme-shop"
# In the template, not in a project: the generator itself and its tests.
TEMPLATE_FILES = re.compile(
    r"^(copier\.yml|scripts/new_project\.py|scripts/project-README\.md\.jinja"
    r"|\{\{_copier_conf\.answers_file\}\}\.jinja|docker-compose\.override\.yml\.jinja"
    r"|tests/generator/.*)$"
)
# The docs holding a part about the generator itself, which a project does not have.
DOCS_WITH_TEMPLATE_PARTS = (
    "docs/architecture.md",
    "docs/operations.md",
    "docs/benchmarks.md",
    "docs/new-project.md",
)
# Files the answers change beyond the name (each checked on its own below).
ANSWERED = {"README.md", ".env.example", "pyproject.toml"}
# Each example app's API stand-in, a service of the dev override.
STANDINS = {"whatsapp": "whatsapp-standin", "football_data": "football-data-standin"}
# The modes but the full one, with the example apps each leaves out
REMOVED = {
    "none": ("whatsapp", "football_data"),
    "whatsapp": ("football_data",),
    "football_data": ("whatsapp",),
}
# and what names each of those in a file (case aside).
LEFTOVERS = {"whatsapp": "whatsapp", "football_data": "football"}
# The answers' own names, which a project's docs may name (docs/new-project.md: turning an app on
# later with `copier update`).
ANSWER_NAMES = re.compile(r"\bkeep_(?:whatsapp|football_data)\b")


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    # Named as a clone of it would be: the project's renaming must leave its address alone.
    return template_repository(tmp_path_factory.mktemp("template") / TEMPLATE_NAME)


@pytest.fixture(scope="module")
def full(template, tmp_path_factory) -> Path:
    return generate(template, tmp_path_factory.mktemp("full") / "acme", mode_answers("full")).path


def mode_answers(mode: str, **overrides: object) -> dict[str, object]:
    from tests.generator.template import answers

    return answers(mode, **overrides)


def tracked(repository: Path) -> list[str]:
    return run(repository, "git", "ls-files").stdout.splitlines()


def test_the_full_project_is_the_template_under_its_own_name(template, full):
    expected = {name for name in tracked(template) if not TEMPLATE_FILES.match(name)}
    assert set(tracked(full)) == expected | {".copier-answers.yml"}
    for name in sorted(expected - ANSWERED):
        original = (template / name).read_bytes()
        try:
            text = original.decode()
        except UnicodeDecodeError:
            assert (full / name).read_bytes() == original, name
            continue
        renamed = TEMPLATE_ONLY.sub("", text).replace(TEMPLATE_NAME, PROJECT_NAME)
        assert (full / name).read_text() == renamed, name


@pytest.mark.parametrize("name", ["docker-compose.override.yml"])
def test_a_jinja_sibling_with_every_example_kept_renders_the_file_itself(name):
    # Copier renders `<name>.jinja` in place of <name> (copier.yml), with its own Jinja settings
    template = SandboxedEnvironment(keep_trailing_newline=True).from_string(
        (REPO_DIR / f"{name}.jinja").read_text()
    )
    rendered = template.render(keep_whatsapp=True, keep_football_data=True)
    # so the two never drift apart: the full project's file is the repository's own
    assert rendered == (REPO_DIR / name).read_text()


def test_the_project_carries_its_own_name(template, full):
    pyproject = (full / "pyproject.toml").read_text()
    assert f'name = "{PROJECT_NAME}"' in pyproject
    assert 'description = "A Django project with Celery workers' in pyproject
    compose = yaml.safe_load((full / "docker-compose.yml").read_text())
    assert compose["name"] == PROJECT_NAME
    assert compose["services"]["web"]["image"] == f"${{APP_IMAGE:-{PROJECT_NAME}:local}}"
    assert (full / "README.md").read_text().startswith("# Acme Shop\n")
    leftovers = run(
        full, "git", "grep", "-l", TEMPLATE_NAME, "--", ":!.copier-answers.yml", check=False
    )
    assert leftovers.returncode == 1, leftovers.stdout + leftovers.stderr  # 1: nothing found
    assert yaml.safe_load((full / ".copier-answers.yml").read_text())["_src_path"] == str(template)


def test_the_script_run_again_changes_nothing(template, full):
    # copier update runs it on the project again, after its own render: it must be idempotent.
    run(
        full,
        sys.executable,
        template / "scripts" / "new_project.py",
        "--slug=acme_shop",
        "--description=A Django project with Celery workers for I/O-bound and CPU-bound work.",
        "--domain=shop.example.com",
        "--io-concurrency=100",
        "--cpu-concurrency=auto",
        "--keep=whatsapp,football_data",
    )
    assert run(full, "git", "status", "--porcelain").stdout == ""


def test_template_only_parts_stay_in_the_template(full):
    for name in ("Makefile", ".ci/run", ".github/workflows/ci.yml", *DOCS_WITH_TEMPLATE_PARTS):
        text = (full / name).read_text()
        assert "template only" not in text, name
        assert "test-generator" not in text, name
        assert "tests/generator" not in text, name
    assert not (full / "copier.yml").exists()
    assert not (full / "tests" / "generator").exists()
    assert not (full / "scripts" / "new_project.py").exists()
    # Makefile still parses, and its targets are all there but the generator's.
    targets = run(full, "make", "--no-print-directory", "help").stdout
    for target in ("install", "test", "test-postgres", "test-compose", "lint", "run", "doctor"):
        assert re.search(rf"^\s*\S*{target}\s", targets, re.M), target


def test_env_has_fresh_secrets_and_the_answers_file_none(template, full, tmp_path):
    other = generate(template, tmp_path / "other", mode_answers("none")).path
    env, other_env = env_values(full / ".env"), env_values(other / ".env")
    example = env_values(full / ".env.example")
    secrets = ["DJANGO_SECRET_KEY", "REDIS_PASSWORD", "POSTGRES_PASSWORD", "FLOWER_BASIC_AUTH"]
    for name in secrets:
        assert len(env[name]) >= 16, name
        assert env[name] != example.get(name), name
        assert env[name] != other_env[name], name
    assert stat.S_IMODE((full / ".env").stat().st_mode) == 0o600
    assert run(full, "git", "check-ignore", ".env").returncode == 0
    answers_text = (full / ".copier-answers.yml").read_text()
    assert not [name for name in secrets if env[name] in answers_text]
    recorded = yaml.safe_load(answers_text)
    assert {k for k in recorded if not k.startswith("_")} == {
        "project_name",
        "project_slug",
        "description",
        "keep_whatsapp",
        "keep_football_data",
        "worker_io_concurrency",
        "worker_cpu_concurrency",
        "domain",
        "github_workflows",
    }
    # The settings among the answers are the project's values.
    assert env["DOMAIN"] == example["DOMAIN"] == "shop.example.com"


def env_values(path: Path) -> dict[str, str]:
    return dict(re.findall(r"^([A-Z0-9_]+)=(.*)$", path.read_text(), re.M))


@dataclass(frozen=True)
class Partial:
    """A project generated without some example app (``removed``)."""

    mode: str
    removed: tuple[str, ...]
    path: Path


@pytest.fixture(scope="module", params=list(REMOVED))
def partial(request, template, tmp_path_factory) -> Partial:
    """Each mode but the full one, generated once for the tests that read it."""
    mode = request.param
    answers = mode_answers(mode, worker_io_concurrency=40, worker_cpu_concurrency="3")
    project = generate(template, tmp_path_factory.mktemp(mode) / "p", answers).path
    return Partial(mode, REMOVED[mode], project)


def test_a_project_without_an_example_names_it_nowhere(partial):
    # What a left-out app leaves behind: its name (and, when none is kept, the API stand-ins),
    # in any file of the project but Copier's record of the answers, which names the answers
    pattern = "|".join(LEFTOVERS[app] for app in partial.removed)
    if partial.mode == "none":
        pattern += r"|stand-?ins?\b"
    leftover = re.compile(pattern, re.IGNORECASE)
    found = []
    for path in sorted(partial.path.rglob("*")):
        name = path.relative_to(partial.path)
        if not path.is_file() or name.parts[0] == ".git" or name.as_posix() == ANSWERS_FILE:
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue  # an image
        for number, line in enumerate(text.splitlines(), start=1):
            if leftover.search(ANSWER_NAMES.sub("", line)):
                found.append(f"{name}:{number}: {line.strip()}")
    assert not found, f"{len(found)} lines name what {partial.mode} left out:\n" + "\n".join(found)


def test_a_project_without_an_example_has_none_of_it_and_passes_its_checks(partial, tmp_path):
    removed, project = partial.removed, partial.path
    override = yaml.safe_load((project / "docker-compose.override.yml").read_text())
    example_text = (project / ".env.example").read_text()
    for app in removed:
        assert not (project / "backend" / app).exists()
        assert not (project / "tests" / app).exists()
        assert not list((project / "devstack" / "standins").glob(f"*{app}*"))
        assert not (project / "bench" / app).exists()
        assert STANDINS[app] not in override["services"]
        assert f"docs/{app}.md" not in (project / "README.md").read_text()
        assert f"\n{app.upper()}_" not in example_text  # none of its variables
    assert (project / "backend" / "starter" / "apps.py").exists()
    # make bench finds the benchmarks of the starter and of the apps kept, and no other
    planned = run(project, sys.executable, "bench/report.py", "--dry-run").stdout
    assert "bench/starter/io_task.py" in planned
    for app in removed:
        assert f"bench/{app}/" not in planned
    assert set(override["services"]) >= {"web", "worker-io", "worker-cpu", "beat"}
    example = env_values(project / ".env.example")
    assert (example["WORKER_IO_CONCURRENCY"], example["WORKER_CPU_CONCURRENCY"]) == ("40", "3")
    check = run(
        project,
        sys.executable,
        "backend/manage.py",
        "check",
        "--fail-level=WARNING",
        env={"DJANGO_DEBUG": "1", "DOTENV_DISABLED": "1"},
    )
    assert "no issues" in check.stdout
    # and it starts in production with the .env `make env` wrote: no secret of a left-out app
    # is asked for
    production = {"DOTENV_DISABLED": "0", "DJANGO_DEBUG": "0"}
    deploy = run(project, sys.executable, "backend/manage.py", "check", "--deploy", env=production)
    assert "no issues" in deploy.stdout, deploy.stderr
    # and web, started so, is ready behind the proxy
    assert readyz_in_production(project, tmp_path) == {
        "status": "ok",
        "database": "ok",
        "broker": "ok",
    }


def readyz_in_production(project: Path, scratch: Path) -> dict[str, str]:
    """GET /readyz from the project's web started as the production stack starts it (gunicorn,
    DJANGO_DEBUG off, the .env `make env` wrote), as the proxy sends it on (the domain as Host,
    X-Forwarded-Proto https); its broker a private Redis with the .env's password, its database
    SQLite in ``scratch``."""
    values = env_values(project / ".env")
    redis = PrivateRedis(scratch / "redis", password=values["REDIS_PASSWORD"]).start()
    port = free_port()
    env = {
        "DOTENV_DISABLED": "0",
        "DJANGO_DEBUG": "0",
        # As docker-compose.prod.yml sets it.
        "DJANGO_ALLOWED_HOSTS": f"{values['DOMAIN']},{values['DJANGO_ALLOWED_HOSTS']}",
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": str(redis.port),
        "SQLITE_PATH": str(scratch / "db.sqlite3"),
        "WEB_BIND": f"127.0.0.1:{port}",
        "WEB_WORKERS": "1",
        "GUNICORN_CONTROL_SOCKET": str(scratch / "gunicorn.ctl"),
    }
    command = [sys.executable, "-m", "gunicorn", "--config=python:config.gunicorn", "config.wsgi"]
    log = scratch / "web.log"
    with log.open("w") as output:
        web = subprocess.Popen(
            command,
            cwd=project / "backend",
            env=clean_env(env),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/readyz",
        headers={"Host": values["DOMAIN"], "X-Forwarded-Proto": "https"},
    )
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                    assert response.status == 200
                    answer: dict[str, str] = json.loads(response.read())
                    return answer
            except (urllib.error.URLError, ConnectionError) as error:
                if web.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"no /readyz ({error}), web's log:\n{log.read_text()}")
                time.sleep(0.2)
    finally:
        web.terminate()
        web.wait(30)
        redis.stop()


def test_a_description_with_quotes_and_backslashes_stays_as_written(template, tmp_path):
    description = 'Parses "quoted" paths like C:\\temp and patterns like \\d+, ending in \\'
    project = generate(template, tmp_path / "p", mode_answers("none", description=description)).path
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["description"] == description


def test_without_workflows_there_is_no_github_folder(template, tmp_path):
    project = generate(template, tmp_path / "p", mode_answers("full", github_workflows=False)).path
    assert not (project / ".github").exists()
    assert (project / ".ci" / "run").exists()


@pytest.mark.parametrize(
    ("answer", "value", "message"),
    [
        ("project_slug", "1shop", "lowercase Python identifier"),
        ("project_slug", "Acme", "lowercase Python identifier"),
        ("project_slug", "acme-shop", "lowercase Python identifier"),
        ("project_slug", "class", "Python keyword or a module name"),
        ("project_slug", "config", "Python keyword or a module name"),
        ("project_slug", "acme_", "lowercase Python identifier"),
        ("project_slug", "acme__shop", "lowercase Python identifier"),
        ("project_slug", "django_celery_template_x", "the template's own name"),
        ("description", "one\x07line", "without control characters"),
        ("domain", "not a domain", "is not a domain name"),
        ("domain", "-shop.example.com", "is not a domain name"),
        ("domain", "shop_1.example.com", "is not a domain name"),
        ("domain", "https://shop.example.com", "is not a domain name"),
        ("worker_io_concurrency", "0", "between 1 and 1000"),
        ("worker_cpu_concurrency", "many", '"auto" or a number'),
        ("project_name", " ", "cannot be empty"),
    ],
)
def test_a_bad_answer_is_refused_with_a_message_and_writes_nothing(
    template, tmp_path, answer, value, message
):
    destination = tmp_path / "p"
    refused = copier(
        tmp_path,
        "copy",
        "--trust",
        "--defaults",
        "--vcs-ref",
        "HEAD",
        *data_options({answer: value}),
        template,
        destination,
        check=False,
    )
    assert refused.returncode != 0
    assert message in refused.stdout + refused.stderr
    assert not destination.exists() or not any(destination.iterdir())


def test_copier_update_brings_a_later_template_change_without_conflicts(template, tmp_path):
    # Given a project generated (without football_data) from the template's first commit, and
    # the user's own change and file, committed
    project = generate(template, tmp_path / "p", mode_answers("whatsapp")).path
    starter = project / "backend" / "starter" / "tasks" / "io_bound.py"
    starter.write_text(starter.read_text().replace("TIMEOUT = (5, 10)", "TIMEOUT = (3, 7)"))
    (project / "backend" / "starter" / "notes.md").write_text("the user's own file\n")
    commit_all(project, "The user's changes")
    env_before = (project / ".env").read_bytes()
    # when the template changes later: a doc, a renamed file, a new file, and the removed app
    operations = template / "docs" / "operations.md"
    operations.write_text(operations.read_text() + "\nA later fix of the template.\n")
    compose = template / "docker-compose.yml"
    compose.write_text(
        compose.read_text().replace("# The compose project:", "# Later: the compose project:")
    )
    (template / "docs" / "later.md").write_text(f"# Later\n\nImages are {TEMPLATE_NAME}.\n")
    tasks = template / "backend" / "football_data" / "tasks.py"
    tasks.write_text(tasks.read_text() + "\n# A later change to the football_data example.\n")
    commit_all(template, "A later change")
    try:
        copier(project, "update", "--trust", "--defaults", "--vcs-ref", "HEAD")
    finally:
        run(template, "git", "reset", "--quiet", "--hard", "HEAD~1")
    # then the change arrived, renamed, the user's work is kept, and nothing conflicts
    assert (
        (project / "docs" / "operations.md")
        .read_text()
        .endswith("\nA later fix of the template.\n")
    )
    assert "# Later: the compose project:" in (project / "docker-compose.yml").read_text()
    assert (project / "docs" / "later.md").read_text() == f"# Later\n\nImages are {PROJECT_NAME}.\n"
    assert "TIMEOUT = (3, 7)" in starter.read_text()
    assert (project / "backend" / "starter" / "notes.md").exists()
    assert not (project / "backend" / "football_data").exists()
    changed = {
        line[3:] for line in run(project, "git", "status", "--porcelain").stdout.splitlines()
    }
    assert changed == {
        ".copier-answers.yml",
        "docker-compose.yml",
        "docs/operations.md",
        "docs/later.md",
    }
    assert_no_conflicts(project)
    assert (project / ".env").read_bytes() == env_before


def test_copier_update_with_changed_answers_turns_an_app_on_and_off_again(template, tmp_path):
    # Given a project generated without examples, with the user's own commit
    project = generate(template, tmp_path / "p", mode_answers("none")).path
    user_file = project / "backend" / "starter" / "notes.md"
    user_file.write_text("the user's own file\n")
    commit_all(project, "The user's changes")
    update = ["update", "--trust", "--defaults", "--vcs-ref", "HEAD", "--skip-answered"]
    # When the answers change: the WhatsApp example on, another concurrency and domain
    copier(
        project,
        *update,
        *data_options(
            {"keep_whatsapp": True, "worker_io_concurrency": 60, "domain": "chat.example.org"}
        ),
    )
    # then the app arrives whole (code, tests, stand-in, settings, variables), the answers that
    # are values change, the user's work stays, and nothing conflicts
    assert (project / "backend" / "whatsapp" / "settings.py").exists()
    assert (project / "tests" / "whatsapp").is_dir()
    assert (project / "devstack" / "standins" / "whatsapp.py").exists()
    example = env_values(project / ".env.example")
    assert "WHATSAPP_API_BASE_URL" in example
    assert "FOOTBALL_DATA_API_URL" not in example
    assert (example["WORKER_IO_CONCURRENCY"], example["DOMAIN"]) == ("60", "chat.example.org")
    override = yaml.safe_load((project / "docker-compose.override.yml").read_text())
    assert STANDINS["whatsapp"] in override["services"]
    assert user_file.exists()
    assert_no_conflicts(project)
    check = run(
        project,
        sys.executable,
        "backend/manage.py",
        "check",
        env={"DJANGO_DEBUG": "1", "DOTENV_DISABLED": "1"},
    )
    assert "no issues" in check.stdout
    commit_all(project, "WhatsApp on")

    # When it is turned off again
    copier(project, *update, *data_options({"keep_whatsapp": False}))
    # then it leaves as whole as it came, and the other answers and the user's file stay
    assert not (project / "backend" / "whatsapp").exists()
    assert not (project / "tests" / "whatsapp").exists()
    assert not list((project / "devstack" / "standins").glob("*whatsapp*"))
    example = env_values(project / ".env.example")
    assert not [name for name in example if name.startswith("WHATSAPP_")]
    assert example["WORKER_IO_CONCURRENCY"] == "60"
    override = yaml.safe_load((project / "docker-compose.override.yml").read_text())
    assert STANDINS["whatsapp"] not in override["services"]
    assert user_file.exists()
    assert_no_conflicts(project)


def assert_no_conflicts(project: Path) -> None:
    conflicts = run(project, "git", "grep", "-lE", "^(<<<<<<<|>>>>>>>) ", check=False).stdout
    assert conflicts == ""
    assert not list(project.rglob("*.rej"))
