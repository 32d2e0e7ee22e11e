from django.apps import AppConfig


class FootballDataConfig(AppConfig):
    """CPU-bound example: fixtures and results from football-data.org, bet settlement."""

    name = "football_data"
    verbose_name = "Football data"
