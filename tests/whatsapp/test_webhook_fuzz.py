"""Fuzzing the webhook: headers and bodies from outside never make a 5xx, a wrong or missing
signature never stores a row, and a signed body that is not a usable event leaves no half state.
"""

import hashlib
import hmac
import json

import pytest
from django.apps import apps
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.whatsapp.conftest import APP_SECRET, WEBHOOK_URL, sample_bytes
from tests.whatsapp.conftest import SAMPLES as SAMPLES_DIR
from whatsapp.models import WebhookEvent
from whatsapp.services import webhook_event_process

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("whatsapp_settings")]

# Bounded: each test takes a few seconds. Fixtures are shared by the examples on purpose; each
# example rolls its own writes back.
FUZZ = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
LIMIT = 64 * 1024  # WHATSAPP_WEBHOOK_MAX_BYTES for these tests
SAMPLES = sorted(p.name for p in SAMPLES_DIR.glob("wa_webhook_*.json"))  # Meta's, real


def _hmac_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _row_counts() -> dict[str, int]:
    """Every table's row count: "nothing stored" means nothing, not only no WebhookEvent."""
    return {m._meta.label: m._default_manager.count() for m in apps.get_models()}


json_leaves = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_leaves,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)

bodies = st.one_of(
    st.binary(max_size=2000),
    st.sampled_from(SAMPLES).map(sample_bytes),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.text(max_size=500).map(lambda t: t.encode("utf-8", "surrogatepass")),
)


@st.composite
def wrong_signatures(draw, body: bytes) -> str | None:
    """A header that is absent, garbage, or a real signature made wrong in one way."""
    right = _hmac_hex(APP_SECRET, body)
    return draw(
        st.one_of(
            st.none(),
            st.text(max_size=80),  # anything, non-ASCII and control characters included
            st.text(max_size=80).map("sha256=".__add__),
            st.text("0123456789abcdef", min_size=64, max_size=64).map("sha256=".__add__),
            st.just("sha256=" + _hmac_hex("another-secret", body)),
            st.just("sha256=" + _hmac_hex(APP_SECRET, body + b" ")),  # another body's
            st.just("sha256=" + right[:-1]),  # truncated
            st.just("sha256=" + right + "0"),  # one digit too many
            st.just("sha1=" + right),  # another scheme
            st.just(right),  # no scheme
            st.just("sha256="),
        ).filter(lambda header: header is None or header.strip().lower() != f"sha256={right}")
    )


@st.composite
def content_lengths(draw, body: bytes) -> str | None:
    """None: the real length. Never longer than the body but within the limit: the test client
    cannot send a body shorter than its Content-Length (a real server would wait for the rest)."""
    return draw(
        st.one_of(
            st.none(),
            st.integers(min_value=0, max_value=len(body)).map(str),
            st.integers(min_value=LIMIT + 1, max_value=2**63).map(str),
            st.integers(max_value=-1).map(str),
            st.text("0123456789 +-_x.e", max_size=12).filter(lambda t: _not_past(t, body)),
        )
    )


def _not_past(text: str, body: bytes) -> bool:
    try:
        declared = int(text)
    except ValueError:
        return True
    return declared <= len(body) or declared > LIMIT


def _post(client, body: bytes, *, signature: str | None, content_length: str | None, **headers):
    if signature is not None:
        headers["HTTP_X_HUB_SIGNATURE_256"] = signature
    if content_length is not None:
        headers["CONTENT_LENGTH"] = content_length
    return client.post(WEBHOOK_URL, data=body, content_type="application/json", **headers)


@FUZZ
@given(data=st.data(), body=bodies, content_type=st.text(max_size=40))
def test_an_unsigned_or_wrongly_signed_post_is_refused_and_stores_nothing(
    client, whatsapp_settings, django_capture_on_commit_callbacks, data, body, content_type
):
    whatsapp_settings.WHATSAPP_WEBHOOK_MAX_BYTES = LIMIT
    signature = data.draw(wrong_signatures(body), label="signature")
    content_length = data.draw(content_lengths(body), label="content_length")
    before = _row_counts()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = _post(
            client,
            body,
            signature=signature,
            content_length=content_length,
            CONTENT_TYPE=content_type,
        )
    assert response.status_code in (400, 403, 413)
    assert callbacks == []
    assert _row_counts() == before


# Signed bodies that are not a JSON object, or not UTF-8, or nested deeper than the parser goes.
malformed_bodies = st.one_of(
    st.binary(max_size=2000).filter(lambda b: not b.strip().startswith(b"{")),
    st.sampled_from(SAMPLES)
    .map(lambda name: sample_bytes(name).rstrip())
    .flatmap(lambda b: st.integers(min_value=0, max_value=len(b) - 1).map(lambda n: b[:n])),
    json_values.filter(lambda v: not isinstance(v, dict)).map(lambda v: json.dumps(v).encode()),
    st.integers(min_value=100_000, max_value=200_000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(min_value=100_000, max_value=200_000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    st.sampled_from(SAMPLES).map(lambda name: sample_bytes(name).replace(b"{", b"\xff{", 1)),
)


@FUZZ
@given(body=malformed_bodies)
def test_a_signed_malformed_body_is_a_4xx_and_leaves_nothing(
    client, whatsapp_settings, django_capture_on_commit_callbacks, body
):
    whatsapp_settings.WHATSAPP_WEBHOOK_MAX_BYTES = 3 * 1024 * 1024
    before = _row_counts()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = _post(
            client, body, signature="sha256=" + _hmac_hex(APP_SECRET, body), content_length=None
        )
    assert response.status_code == 400
    assert callbacks == []
    assert _row_counts() == before


# Signed JSON objects shaped like Meta's envelope, with anything in the places a value goes.
def _maybe(value):
    """The expected kind of value, or anything."""
    return st.one_of(value, json_values)


# Seconds since 1970 as Meta sends them (strings), also past what a datetime (10**12) or the
# platform's time_t (10**17: OSError, not ValueError) holds.
far_off = st.integers(min_value=11, max_value=20).flatmap(
    lambda power: st.integers(min_value=10**power, max_value=10 ** (power + 1))
)
timestamps = st.one_of(st.integers(), far_off, far_off.map(lambda n: -n)).map(str)
statuses = st.fixed_dictionaries(
    {
        "id": _maybe(st.sampled_from(["wamid.a", "wamid.b"])),
        "status": _maybe(st.sampled_from(["sent", "delivered", "read", "failed"])),
        "timestamp": _maybe(timestamps),
    },
    optional={"errors": json_values, "recipient_id": json_values},
)
messages = st.fixed_dictionaries(
    {
        "from": _maybe(st.sampled_from(["15551234567", "16315551234"])),
        "id": _maybe(st.text(max_size=10)),
        "timestamp": _maybe(timestamps),
    },
    optional={
        "type": _maybe(st.sampled_from(["text", "button", "interactive"])),
        "text": json_values,
    },
)
values = st.fixed_dictionaries(
    {},
    optional={
        "messages": st.lists(_maybe(messages), max_size=3),
        "statuses": st.lists(_maybe(statuses), max_size=3),
        "contacts": json_values,
        "errors": json_values,
        "metadata": json_values,
    },
)
changes = st.fixed_dictionaries(
    {"field": st.sampled_from(["messages", "messages", "other"]), "value": values}
)
events = st.one_of(
    st.fixed_dictionaries(
        {
            "entry": st.lists(
                st.fixed_dictionaries({"changes": st.lists(changes, max_size=3)}), max_size=2
            )
        },
        optional={"object": json_values},
    ),
    st.fixed_dictionaries({"entry": json_values}),
    st.dictionaries(st.text(max_size=8), json_values, max_size=4),
)


@FUZZ
@given(payload=events)
def test_a_signed_event_of_any_shape_is_stored_and_processed_whole_or_not_at_all(
    client, django_capture_on_commit_callbacks, payload
):
    body = json.dumps(payload).encode()
    with transaction.atomic():
        before = _row_counts()
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            response = _post(
                client, body, signature="sha256=" + _hmac_hex(APP_SECRET, body), content_length=None
            )
        assert response.status_code == 200
        assert len(callbacks) == 1
        event = WebhookEvent.objects.get(body=body.decode())
        # when the task's service runs, it finishes or records why it could not: it never raises
        with django_capture_on_commit_callbacks(execute=False):
            processed = webhook_event_process(event_id=event.pk)
        event.refresh_from_db()
        if processed:
            assert event.processed_at is not None
            assert event.processing_error == ""
            assert isinstance(event.errors, list)
        else:
            # and then nothing of it stays but the event itself
            assert event.processed_at is None
            assert event.processing_error
            after = _row_counts()
            after["whatsapp.WebhookEvent"] -= 1
            assert after == before
        transaction.set_rollback(True)
