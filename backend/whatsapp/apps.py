from django.apps import AppConfig


class WhatsAppConfig(AppConfig):
    """I/O-bound example: WhatsApp Cloud API sends, webhooks, staggered multi-part replies."""

    name = "whatsapp"
    verbose_name = "WhatsApp"

    def ready(self) -> None:
        # Registers the built-in commands (help); other apps add theirs from their own ready().
        from whatsapp import commands  # noqa: F401
