from django.apps import AppConfig


class FootballDataConfig(AppConfig):
    """CPU-bound example: fixtures and results from football-data.org, bet settlement."""

    name = "football_data"
    verbose_name = "Football data"

    def ready(self) -> None:
        # Registers the `fixtures` WhatsApp command with the whatsapp app's registry.
        from football_data import whatsapp_commands  # noqa: F401
