from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Operations: health endpoints, system checks for worker drift, the doctor, liveness."""

    name = "ops"

    def ready(self) -> None:
        from ops import checks  # noqa: F401  (registers the system checks)
