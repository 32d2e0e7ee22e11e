import pytest
from django.core.exceptions import ImproperlyConfigured

from whatsapp import commands
from whatsapp.commands import command, command_arguments, command_reply, registered_commands
from whatsapp.models import Contact


@pytest.fixture
def registry():
    """Commands registered by a test disappear after it."""
    saved = dict(commands._registry)
    yield
    commands._registry.clear()
    commands._registry.update(saved)


def test_help_lists_every_command_with_its_description(registry):
    @command("ping", description="Answer pong")
    def ping(*, contact, text):
        return "pong"

    reply = command_reply(contact=Contact(wa_id="1"), text="help") or ""
    assert "• help: List the commands" in reply
    assert "• ping: Answer pong" in reply


def test_unknown_text_gets_the_help_reply():
    reply = command_reply(contact=Contact(wa_id="1"), text="what can you do?") or ""
    assert reply.startswith("Commands:")


def test_a_command_gets_the_contact_and_the_whole_text(registry):
    seen: dict[str, object] = {}

    @command("echo", description="Say it back")
    def echo(*, contact, text):
        seen.update(contact=contact, text=text)
        return command_arguments(text)

    contact = Contact(wa_id="15551234567")
    assert command_reply(contact=contact, text="  ECHO  hello there ") == "hello there"
    assert seen == {"contact": contact, "text": "ECHO  hello there"}


def test_a_handler_may_answer_by_itself(registry):
    @command("later", description="Replies from a task")
    def later(*, contact, text):
        return None

    assert command_reply(contact=Contact(wa_id="1"), text="later") is None


def test_a_name_taken_by_another_handler_is_refused(registry):
    @command("twice", description="first")
    def first(*, contact, text):
        return "1"

    with pytest.raises(ImproperlyConfigured, match="registered twice"):

        @command("twice", description="second")
        def second(*, contact, text):
            return "2"


def test_command_names_are_one_word():
    with pytest.raises(ImproperlyConfigured):
        command("two words", description="x")


def test_registered_commands_are_sorted():
    names = [c.name for c in registered_commands()]
    assert names == sorted(names)
    assert "help" in names
