from django.contrib import admin
from django.urls import include, path

from ops import views as ops_views

urlpatterns = [
    path("healthz", ops_views.healthz, name="healthz"),
    path("readyz", ops_views.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("whatsapp/", include("whatsapp.urls")),
]
