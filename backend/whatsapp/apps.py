from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class WhatsAppConfig(AppConfig):
    """I/O-bound example: WhatsApp Cloud API sends, webhooks, staggered multi-part replies."""

    name = "whatsapp"
    verbose_name = "WhatsApp"

    def ready(self) -> None:
        # The built-in commands (help), then each installed app's own: its `whatsapp_commands`
        # module, found the way Django finds `admin` modules.
        from whatsapp import commands  # noqa: F401

        autodiscover_modules("whatsapp_commands")
