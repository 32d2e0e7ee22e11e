import pytest

from devstack.standins.whatsapp import WhatsAppStandIn
from tests.whatsapp.conftest import ACCESS_TOKEN, PHONE_NUMBER_ID, load_sample
from whatsapp.client import (
    ClientConfig,
    WhatsAppAuthError,
    WhatsAppClient,
    WhatsAppError,
    WhatsAppPairRateLimitError,
    WhatsAppPermanentError,
    WhatsAppThroughputError,
    WhatsAppTransientError,
    error_from_response,
    get_client,
)


def _config(url: str, **overrides) -> ClientConfig:
    values = {
        "base_url": url,
        "version": "v26.0",
        "access_token": ACCESS_TOKEN,
        "phone_number_id": PHONE_NUMBER_ID,
        "pool_size": 7,
    }
    return ClientConfig(**{**values, **overrides})


@pytest.mark.parametrize(
    ("code", "http_status", "expected"),
    [
        (1, 500, WhatsAppTransientError),
        (2, 503, WhatsAppTransientError),
        (4, 400, WhatsAppTransientError),
        (80007, 400, WhatsAppTransientError),
        (130429, 400, WhatsAppThroughputError),
        (130429, 429, WhatsAppThroughputError),
        (131000, 500, WhatsAppTransientError),
        (131016, 503, WhatsAppTransientError),
        (131057, 400, WhatsAppThroughputError),
        (131056, 400, WhatsAppPairRateLimitError),
        (131026, 400, WhatsAppPermanentError),
        (131047, 400, WhatsAppPermanentError),
        (131049, 400, WhatsAppPermanentError),
        (131050, 400, WhatsAppPermanentError),
        (130403, 400, WhatsAppPermanentError),
        (368, 400, WhatsAppPermanentError),
        (131031, 400, WhatsAppPermanentError),
        (0, 401, WhatsAppAuthError),
        (190, 401, WhatsAppAuthError),
        # a known code wins over a throttling or server status it arrives with
        (131047, 429, WhatsAppPermanentError),
        (131047, 503, WhatsAppPermanentError),
        (131026, 500, WhatsAppPermanentError),
        (131051, 429, WhatsAppPermanentError),
        (190, 500, WhatsAppAuthError),
        (131056, 429, WhatsAppPairRateLimitError),
        (131000, 400, WhatsAppTransientError),
        # a template Meta will not send as asked: never retried, whatever the status
        (132000, 400, WhatsAppPermanentError),
        (132001, 404, WhatsAppPermanentError),
        (132005, 400, WhatsAppPermanentError),
        (132007, 400, WhatsAppPermanentError),
        (132012, 400, WhatsAppPermanentError),
        (132015, 500, WhatsAppPermanentError),
        (132016, 429, WhatsAppPermanentError),
        # only an unknown code falls back to the HTTP status
        (999999, 503, WhatsAppTransientError),
        (999999, 429, WhatsAppTransientError),
        (999999, 400, WhatsAppPermanentError),
        (None, 429, WhatsAppTransientError),
        (None, 400, WhatsAppPermanentError),
    ],
)
def test_errors_are_classified_by_meta_code_before_http_status(code, http_status, expected):
    error = error_from_response({"message": "x", "code": code}, http_status=http_status)
    assert type(error) is expected
    assert error.code == code


def test_pair_rate_limit_is_a_transient_error():
    assert issubclass(WhatsAppPairRateLimitError, WhatsAppTransientError)


def test_real_error_samples_are_classified():
    # given Meta's sample envelopes
    not_found = load_sample("wa_error_response_sample_postman.json")["error"]
    bad_token = load_sample("wa_error_response_190_invalid_token.json")["error"]
    # when / then
    error = error_from_response(not_found, http_status=400)
    assert isinstance(error, WhatsAppPermanentError)
    assert error.code == 131006
    assert error.details == "unknown contact"
    assert error.fbtrace_id == "Az8or2yhqkZfEZ-_4Qn_Bam"
    assert isinstance(error_from_response(bad_token, http_status=401), WhatsAppAuthError)


def test_text_send_posts_the_documented_request_and_returns_the_wamid(standin):
    # given a user who wrote to the number a moment ago
    standin.open_window("15551234567")
    client = WhatsAppClient(_config(standin.url))
    # when
    sent = client.text_send(to="15551234567", body="hello", callback_data="outbound:1")
    # then
    [request] = standin.received()
    assert request.path == f"/v26.0/{PHONE_NUMBER_ID}/messages"
    expected = load_sample("wa_send_text_request_postman.json")
    assert set(expected) - {"preview_url"} <= set(request.payload)
    assert request.payload["text"] == {"preview_url": False, "body": "hello"}
    assert request.payload["biz_opaque_callback_data"] == "outbound:1"
    assert sent.wamid == request.wamid
    assert sent.wamid.startswith("wamid.")


def test_template_send_posts_meta_s_template_request_and_returns_the_wamid(standin):
    # given
    client = WhatsAppClient(_config(standin.url))
    # when
    sent = client.template_send(
        to="15551234567",
        name="payment_reminder",
        language="en_US",
        params=["Ada", "€12.50", "1 March"],
        callback_data="outbound:7",
    )
    # then the request has Meta's shape: the body's parameters as texts, in order
    [request] = standin.received()
    assert request.payload == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "15551234567",
        "type": "template",
        "template": {
            "name": "payment_reminder",
            "language": {"code": "en_US"},
            "components": [
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "text": "Ada"},
                        {"type": "text", "text": "€12.50"},
                        {"type": "text", "text": "1 March"},
                    ],
                }
            ],
        },
        "biz_opaque_callback_data": "outbound:7",
    }
    assert sent.wamid == request.wamid
    assert request.body == "Hi Ada, your payment of €12.50 is due on 1 March."


def test_a_template_without_parameters_sends_no_components(standin):
    # given a template whose body has no placeholder
    standin.add_template("welcome", "en_GB", "Welcome aboard.")
    client = WhatsAppClient(_config(standin.url))
    # when
    client.template_send(to="15551234567", name="welcome", language="en_GB", params=[])
    # then
    [request] = standin.delivered()
    assert request.payload["template"] == {"name": "welcome", "language": {"code": "en_GB"}}
    assert "biz_opaque_callback_data" not in request.payload


@pytest.mark.parametrize(
    ("language", "params", "status", "code"),
    [
        ("en_US", ["Ada", "€12"], "APPROVED", 132000),
        ("de_DE", ["Ada", "€12", "1 May"], "APPROVED", 132001),
        ("en_US", ["Ada", "x" * 1000, "1 May"], "APPROVED", 132005),
        ("en_US", ["Ada", "€12", "1 May"], "PAUSED", 132015),
        ("en_US", ["Ada", "€12", "1 May"], "DISABLED", 132016),
    ],
)
def test_template_refusals_reach_the_caller_as_permanent_errors_with_meta_s_text(
    standin, language, params, status, code
):
    # given
    standin.set_template_status("payment_reminder", "en_US", status)
    client = WhatsAppClient(_config(standin.url))
    # when
    with pytest.raises(WhatsAppPermanentError) as caught:
        client.template_send(
            to="15551234567", name="payment_reminder", language=language, params=params
        )
    # then
    assert caught.value.code == code
    assert str(caught.value).startswith(f"({code}) (#{code}) ")
    assert standin.template_refusals() == {code: 1}
    assert standin.refusals() == {}


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ({"code": 131000}, WhatsAppTransientError),
        ({"code": 130429}, WhatsAppThroughputError),
        ({"code": 131056}, WhatsAppPairRateLimitError),
        ({"code": 131026}, WhatsAppPermanentError),
        ({"kind": "http500"}, WhatsAppTransientError),
    ],
)
def test_stand_in_faults_reach_the_caller_as_typed_errors(standin, fault, expected):
    standin.open_window("15551234567")
    client = WhatsAppClient(_config(standin.url))
    standin.add_fault(nth=1, **fault)
    with pytest.raises(expected):
        client.text_send(to="15551234567", body="hi")
    # the fault fired once; the next request goes through
    assert client.text_send(to="15551234567", body="hi").wamid


@pytest.mark.parametrize("http_status", [429, 500, 503])
def test_the_24_hour_window_is_permanent_whatever_the_http_status(standin, http_status):
    # given Meta answering 131047 (re-engagement) on a throttling or server-error status
    client = WhatsAppClient(_config(standin.url))
    standin.add_fault(nth=1, code=131047, http_status=http_status)
    # when / then: not retried as if Meta were busy
    with pytest.raises(WhatsAppPermanentError) as caught:
        client.text_send(to="15551234567", body="hi")
    assert (caught.value.code, caught.value.http_status) == (131047, http_status)
    assert not isinstance(caught.value, WhatsAppTransientError)


def test_wrong_token_is_an_auth_error(standin):
    client = WhatsAppClient(_config(standin.url, access_token="wrong"))
    with pytest.raises(WhatsAppAuthError) as caught:
        client.text_send(to="15551234567", body="hi")
    assert caught.value.code == 190


def test_a_read_timeout_is_transient():
    # given a stand-in that holds the request longer than the client waits
    with WhatsAppStandIn(timeout_hold=2.0) as slow:
        slow.add_fault(kind="timeout", nth=1)
        client = WhatsAppClient(_config(slow.url), timeout=(1.0, 0.3))
        # when / then
        with pytest.raises(WhatsAppTransientError, match="Timeout"):
            client.text_send(to="15551234567", body="hi")


def test_nothing_listening_is_transient(standin):
    with WhatsAppStandIn() as gone:
        url = gone.url
    client = WhatsAppClient(_config(url), timeout=(0.5, 0.5))
    with pytest.raises(WhatsAppTransientError):
        client.text_send(to="15551234567", body="hi")


def test_one_client_per_process_with_a_pool_sized_from_settings(whatsapp_settings):
    # given
    whatsapp_settings.WHATSAPP_HTTP_POOL_SIZE = 42
    # when
    first, second = get_client(), get_client()
    # then
    assert first is second
    adapter = first.session.get_adapter(first.messages_url)
    assert getattr(adapter, "_pool_maxsize", None) == 42
    assert first.session.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"
    # and a settings change (tests override them) builds a new one
    whatsapp_settings.WHATSAPP_HTTP_POOL_SIZE = 43
    assert get_client() is not first


def test_missing_credentials_fail_loudly(settings):
    settings.WHATSAPP_ACCESS_TOKEN = None
    with pytest.raises(WhatsAppAuthError, match="WHATSAPP_ACCESS_TOKEN"):
        get_client()


def test_a_malformed_base_url_is_an_error_that_is_not_retried():
    client = WhatsAppClient(_config("htp//nowhere"))
    with pytest.raises(WhatsAppError) as caught:
        client.text_send(to="15551234567", body="hi")
    assert not isinstance(caught.value, WhatsAppTransientError)
