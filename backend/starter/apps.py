from django.apps import AppConfig


class StarterConfig(AppConfig):
    """The starter tasks: copy their shape for your own I/O and CPU work."""

    name = "starter"
