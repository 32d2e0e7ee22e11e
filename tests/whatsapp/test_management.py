import pytest
from django.core.management import CommandError, call_command

from whatsapp.models import OutboundMessage

pytestmark = pytest.mark.django_db


def test_whatsapp_send_queues_a_staggered_text(
    tmp_path, capsys, django_capture_on_commit_callbacks
):
    # given a text of two parts in a file
    path = tmp_path / "reply.txt"
    path.write_text("a" * 4000 + "\n" + "b" * 4000, encoding="utf-8")
    # when
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        call_command("whatsapp_send", "+15551234567", file=path)
    # then
    rows = list(OutboundMessage.objects.order_by("position"))
    assert [r.body[0] for r in rows] == ["a", "b"]
    assert rows[0].contact.wa_id == "15551234567"
    assert len(callbacks) == 2
    assert "queued 2 part(s)" in capsys.readouterr().out


def test_whatsapp_send_refuses_a_bad_recipient():
    with pytest.raises(CommandError, match="digits"):
        call_command("whatsapp_send", "not-a-number", "hi")
