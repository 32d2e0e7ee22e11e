import datetime as dt

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from tests.whatsapp.conftest import user_wrote
from whatsapp.models import OutboundMessage

pytestmark = pytest.mark.django_db


def test_whatsapp_send_queues_a_staggered_text(
    tmp_path, capsys, django_capture_on_commit_callbacks
):
    # given a text of two parts in a file
    path = tmp_path / "reply.txt"
    path.write_text("a" * 4000 + "\n" + "b" * 4000, encoding="utf-8")
    user_wrote("15551234567")
    # when
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        call_command("whatsapp_send", "+15551234567", file=path)
    # then
    rows = list(OutboundMessage.objects.order_by("position"))
    assert [r.body[0] for r in rows] == ["a", "b"]
    assert rows[0].contact.wa_id == "15551234567"
    assert len(callbacks) == 1  # the first part; each part wakes the next
    assert "queued 2 part(s)" in capsys.readouterr().out


def test_whatsapp_send_refuses_a_bad_recipient():
    with pytest.raises(CommandError, match="digits"):
        call_command("whatsapp_send", "not-a-number", "hi")


@pytest.mark.parametrize(
    ("to", "message"),
    [
        ("123", "has 3 digits; a WhatsApp number has 7 to 15"),
        ("0044 7700 900123", "starts with 0"),
        ("+1 (555) 123-4567", "must be a phone number in digits"),
    ],
)
def test_whatsapp_send_names_what_is_wrong_with_the_recipient(to, message):
    with pytest.raises(CommandError, match=message):
        call_command("whatsapp_send", to, "hi")
    assert not OutboundMessage.objects.exists()


def test_whatsapp_send_accepts_a_number_as_people_write_it(django_capture_on_commit_callbacks):
    user_wrote("447700900123")
    with django_capture_on_commit_callbacks(execute=False):
        call_command("whatsapp_send", "+44 7700-900123", "hi")

    assert OutboundMessage.objects.get().contact.wa_id == "447700900123"


def test_whatsapp_send_explains_a_closed_window_before_queuing():
    # given a contact who last wrote two days ago
    user_wrote("15551234567", at=timezone.now() - dt.timedelta(days=2))
    # when, then it says why the text cannot go and what can, and queues nothing
    with pytest.raises(CommandError, match="24-hour customer service window is closed") as error:
        call_command("whatsapp_send", "15551234567", "hello")
    assert "--template" in str(error.value)
    assert not OutboundMessage.objects.exists()


@pytest.mark.parametrize("text", ["", "  \n "], ids=["empty", "whitespace"])
def test_whatsapp_send_refuses_an_empty_text(text):
    with pytest.raises(CommandError, match="the text is empty"):
        call_command("whatsapp_send", "15551234567", text)
    assert not OutboundMessage.objects.exists()


def test_whatsapp_send_refuses_a_text_over_the_part_limit(tmp_path, settings):
    settings.WHATSAPP_TEXT_MAX_PARTS = 2
    path = tmp_path / "long.txt"
    path.write_text("\n".join("z" * 4000 for _ in range(3)), encoding="utf-8")

    with pytest.raises(CommandError, match="needs 3 parts, more than WHATSAPP_TEXT_MAX_PARTS=2"):
        call_command("whatsapp_send", "15551234567", file=path)
    assert not OutboundMessage.objects.exists()


def test_whatsapp_send_reports_a_file_it_cannot_read(tmp_path):
    missing = tmp_path / "missing.txt"
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\xfa")

    with pytest.raises(CommandError, match=r"cannot read --file .*missing\.txt"):
        call_command("whatsapp_send", "15551234567", file=missing)
    with pytest.raises(CommandError, match=r"cannot read --file .*binary\.txt.*utf-8"):
        call_command("whatsapp_send", "15551234567", file=binary)


def test_whatsapp_send_refuses_a_text_and_a_file_together(tmp_path):
    path = tmp_path / "reply.txt"
    path.write_text("from the file", encoding="utf-8")

    with pytest.raises(CommandError, match="not both"):
        call_command("whatsapp_send", "15551234567", "from the argument", file=path)
    with pytest.raises(CommandError, match="give the text, --file or --template"):
        call_command("whatsapp_send", "15551234567")


REMINDER_ARGS = ["--template", "payment_reminder", "--language", "en_US"]


def test_whatsapp_send_queues_a_template(capsys, django_capture_on_commit_callbacks):
    # when
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        call_command(
            "whatsapp_send",
            "+1 555 123 4567",
            *REMINDER_ARGS,
            *["--param", "Ada", "--param", "€12.50", "--param", "1 May"],
        )
    # then one row with the template, its parameters in order, and its text
    message = OutboundMessage.objects.get()
    assert message.contact.wa_id == "15551234567"
    assert (message.template_name, message.template_language) == ("payment_reminder", "en_US")
    assert message.template_params == ["Ada", "€12.50", "1 May"]
    assert message.body == "Hi Ada, your payment of €12.50 is due on 1 May."
    assert len(callbacks) == 1
    out = capsys.readouterr().out
    assert (
        f"queued template payment_reminder (en_US) to 15551234567: message id {message.pk}" in out
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--template", "payment_remind", "--language", "en_US"],
            "unknown template 'payment_remind'",
        ),
        (
            ["--template", "payment_reminder", "--param", "Ada"],
            "the language of payment_reminder is missing",
        ),
        (
            [*REMINDER_ARGS, "--param", "Ada", "--param", "€12"],
            "payment_reminder takes 3 parameters, got 2",
        ),
        (
            [*REMINDER_ARGS, "--param", "Ada", "--param", "", "--param", "1 May"],
            "parameter 2 of payment_reminder is empty",
        ),
        (["hello", *REMINDER_ARGS], r"give a text \(or --file\) or --template, not both"),
        (["--language", "en_US"], "--language and --param go with --template"),
        (["hello", "--param", "Ada"], "--language and --param go with --template"),
    ],
    ids=[
        "unknown-template",
        "missing-language",
        "wrong-count",
        "empty-parameter",
        "text-and-template",
        "language-alone",
        "param-alone",
    ],
)
def test_whatsapp_send_reports_a_bad_template_send_and_queues_nothing(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("whatsapp_send", "15551234567", *args)
    assert not OutboundMessage.objects.exists()


def test_whatsapp_send_refuses_a_template_and_a_file_together(tmp_path):
    path = tmp_path / "reply.txt"
    path.write_text("from the file", encoding="utf-8")

    with pytest.raises(CommandError, match="not both"):
        call_command("whatsapp_send", "15551234567", *REMINDER_ARGS, file=path)
    assert not OutboundMessage.objects.exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"to": "12345"}, "has 5 digits"),
        ({"paragraphs": 0}, "--paragraphs must be at least 1, got 0"),
        ({"timeout": 0.0}, "--timeout must be more than 0 seconds"),
    ],
)
def test_whatsapp_demo_refuses_bad_options_before_touching_the_stack(settings, options, message):
    # No stack runs here: the command must stop before its first request.
    settings.WHATSAPP_APP_SECRET = "secret"  # pragma: allowlist secret
    with pytest.raises(CommandError, match=message):
        call_command("whatsapp_demo", base_url="http://127.0.0.1:9", **options)
