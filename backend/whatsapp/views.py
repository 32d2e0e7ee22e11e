"""The webhook Meta calls: check authenticity, store the raw event, enqueue, answer at once."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from whatsapp.services import webhook_event_store

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "HTTP_X_HUB_SIGNATURE_256"


def signature_valid(*, body: bytes, header: str | None, app_secret: str | None) -> bool:
    """``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>``, constant time."""
    if not app_secret or not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    given = header.removeprefix("sha256=").strip().lower()
    # Bytes, not str: compare_digest raises TypeError on a non-ASCII str (a header is latin-1).
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


def _verify(request: HttpRequest) -> HttpResponse:
    token = settings.WHATSAPP_VERIFY_TOKEN
    given = request.GET.get("hub.verify_token", "")
    if (
        request.GET.get("hub.mode") == "subscribe"
        and token
        and hmac.compare_digest(given.encode(), token.encode())
    ):
        return HttpResponse(request.GET.get("hub.challenge", ""), content_type="text/plain")
    return HttpResponse("forbidden", status=403, content_type="text/plain")


def _receive(request: HttpRequest) -> HttpResponse:
    limit = settings.WHATSAPP_WEBHOOK_MAX_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return HttpResponse("bad content length", status=400, content_type="text/plain")
    if declared > limit:
        return HttpResponse("payload too large", status=413, content_type="text/plain")
    # Read at most one byte over the limit: a body without an honest Content-Length is caught too.
    body = request.read(limit + 1)
    if len(body) > limit:
        return HttpResponse("payload too large", status=413, content_type="text/plain")
    if not signature_valid(
        body=body,
        header=request.META.get(SIGNATURE_HEADER),
        app_secret=settings.WHATSAPP_APP_SECRET,
    ):
        logger.warning(
            "webhook with a missing or bad signature from %s", request.META.get("REMOTE_ADDR")
        )
        return HttpResponse("bad signature", status=403, content_type="text/plain")
    try:
        payload = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError included; deep nesting recurses
        return HttpResponse("malformed JSON", status=400, content_type="text/plain")
    if not isinstance(payload, dict):
        return HttpResponse("malformed payload", status=400, content_type="text/plain")
    webhook_event_store(body=body)
    return HttpResponse("ok", content_type="text/plain")


@csrf_exempt
@require_http_methods(["GET", "POST"])
def webhook(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _verify(request)
    return _receive(request)
