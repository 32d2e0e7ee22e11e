"""URLs: the health endpoints, the admin, and each installed app's ``urls`` module at ``<app>/``
(found like config.discovery finds beat entries, so no app is named here)."""

import importlib.util

from django.conf import settings
from django.contrib import admin
from django.urls import URLResolver, include, path

from config.discovery import app_packages
from ops import views as ops_views


def _app_urls() -> list[URLResolver]:
    found: list[URLResolver] = []
    for app in app_packages(settings.INSTALLED_APPS):
        if app.startswith("django.") or app == "ops":
            continue
        try:
            spec = importlib.util.find_spec(f"{app}.urls")
        except ModuleNotFoundError:
            spec = None
        if spec is not None:
            found.append(path(f"{app}/", include(f"{app}.urls")))
    return found


urlpatterns = [
    path("healthz", ops_views.healthz, name="healthz"),
    path("readyz", ops_views.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    *_app_urls(),
]
