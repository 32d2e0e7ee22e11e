from django.apps import AppConfig


class WhatsAppConfig(AppConfig):
    """I/O-bound example: WhatsApp Cloud API sends, webhooks, staggered multi-part replies."""

    name = "whatsapp"
    verbose_name = "WhatsApp"
