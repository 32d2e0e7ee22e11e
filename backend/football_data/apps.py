from django.apps import AppConfig, apps


class FootballDataConfig(AppConfig):
    """CPU-bound example: fixtures and results from football-data.org, bet settlement."""

    name = "football_data"
    verbose_name = "Football data"

    def ready(self) -> None:
        # The `fixtures` WhatsApp command, only when the whatsapp app is installed.
        if apps.is_installed("whatsapp"):
            from football_data import whatsapp_commands  # noqa: F401
