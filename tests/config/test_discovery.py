"""The apps are the folders in backend/ that hold an apps.py, and each brings its own settings:
a setting set twice is an error, an app's settings reach django.conf.settings."""

from __future__ import annotations

import importlib
import sys

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from config.discovery import app_settings, project_apps
from config.env import HTTP_SCHEMES
from tests.startup import BACKEND


def test_every_backend_package_with_an_apps_module_is_installed_the_core_first():
    apps = project_apps(BACKEND)

    assert apps[0] == "ops"
    assert apps[1:] == sorted(apps[1:])
    assert {path.parent.name for path in BACKEND.glob("*/apps.py")} == set(apps)
    assert settings.INSTALLED_APPS[-len(apps) :] == apps
    assert "config" not in apps  # settings, not an app


def test_a_new_app_folder_is_found(tmp_path):
    for name in ("ops", "billing", "config"):
        (tmp_path / name).mkdir()
    (tmp_path / "ops" / "apps.py").touch()
    (tmp_path / "billing" / "apps.py").touch()

    assert project_apps(tmp_path) == ["ops", "billing"]


@pytest.fixture
def apps_on_path(tmp_path, monkeypatch):
    """Two throwaway apps, ``alpha`` and ``beta``, importable for this test only."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(app: str, source: str | None) -> None:
        (tmp_path / app).mkdir(exist_ok=True)
        (tmp_path / app / "__init__.py").touch()
        if source is not None:
            (tmp_path / app / "settings.py").write_text(source)

    yield write
    for name in [name for name in sys.modules if name.split(".")[0] in ("alpha", "beta", "gamma")]:
        del sys.modules[name]


def test_each_apps_upper_case_names_are_its_settings(apps_on_path):
    apps_on_path("alpha", "from config.env import HTTP_SCHEMES\nALPHA_URL = 'x'\nhelper = 1\n")
    apps_on_path("beta", "BETA_SIZE = 3\n")
    apps_on_path("gamma", None)

    merged = app_settings(["alpha", "beta", "gamma"], defined={"HTTP_SCHEMES": HTTP_SCHEMES})

    # an imported core name is not set again; lower-case names are not settings; gamma has none
    assert merged == {"ALPHA_URL": "x", "BETA_SIZE": 3}


@pytest.mark.parametrize(
    ("alpha", "beta", "message"),
    [
        ("DEBUG = True\n", "", "DEBUG is set by both config.settings and alpha.settings"),
        ("SHARED = 1\n", "SHARED = 2\n", "SHARED is set by both alpha.settings and beta.settings"),
    ],
)
def test_a_setting_set_twice_is_an_error_not_an_override(apps_on_path, alpha, beta, message):
    apps_on_path("alpha", alpha)
    apps_on_path("beta", beta)

    with pytest.raises(ImproperlyConfigured, match=message):
        app_settings(["alpha", "beta"], defined={"DEBUG": False})


def test_the_apps_settings_are_django_settings():
    for app in project_apps(BACKEND):
        if not (BACKEND / app / "settings.py").exists():
            continue
        module = importlib.import_module(f"{app}.settings")
        prefix = app.upper() + "_"  # the examples' names carry their app's
        names = [name for name in vars(module) if name.startswith(prefix)]
        assert names, app
        assert {name: getattr(settings, name) for name in names} == {
            name: getattr(module, name) for name in names
        }
