"""config.env: typed variables, ${...} refusal, and the broker URL built from parts."""

from __future__ import annotations

import pytest
import redis
from kombu import Connection

from config.env import TOKEN, Env, EnvError, redis_url
from devstack.redis_server import PrivateRedis

AWKWARD_PASSWORD = "p@ss:w/rd#?%&x"  # pragma: allowlist secret (test value)


def test_unexpanded_reference_is_refused_naming_the_variable():
    env = Env({"CELERY_BROKER_URL": "redis://:${REDIS_PASSWORD}@redis:6379/0"})

    with pytest.raises(EnvError, match=r"CELERY_BROKER_URL.*\$\{REDIS_PASSWORD\}"):
        env.str("CELERY_BROKER_URL")


@pytest.mark.parametrize("method", ["str", "optional", "list"])
def test_every_reader_refuses_unexpanded_references(method):
    env = Env({"SOME_VAR": "x${Y}"})
    reader = getattr(env, method)

    with pytest.raises(EnvError, match="SOME_VAR"):
        reader("SOME_VAR") if method != "list" else reader("SOME_VAR", [])


def test_missing_required_variable_is_named():
    with pytest.raises(EnvError, match="DJANGO_SECRET_KEY is required"):
        Env({}).str("DJANGO_SECRET_KEY")


@pytest.mark.parametrize(
    ("raw", "expected"), [("1", True), ("yes", True), ("ON", True), ("0", False), ("off", False)]
)
def test_booleans(raw, expected):
    assert Env({"FLAG": raw}).bool("FLAG", not expected) is expected


def test_malformed_values_name_the_variable():
    env = Env({"FLAG": "maybe", "PORT": "63 79", "RATE": "fast", "SMALL": "0"})

    with pytest.raises(EnvError, match="FLAG must be a boolean"):
        env.bool("FLAG", False)
    with pytest.raises(EnvError, match="PORT must be an integer"):
        env.int("PORT", 6379)
    with pytest.raises(EnvError, match="RATE must be a number"):
        env.float("RATE", 1.0)
    with pytest.raises(EnvError, match="SMALL must be at least 1"):
        env.int("SMALL", 5, minimum=1)


@pytest.mark.parametrize("raw", ["nan", "inf", "-inf"])
def test_non_finite_numbers_are_refused_although_they_parse(raw):
    with pytest.raises(EnvError, match="RATE must be a finite number"):
        Env({"RATE": raw}).float("RATE", 1.0, minimum=0)


def test_maximum_is_enforced():
    env = Env({"PORT": "65536"})

    with pytest.raises(EnvError, match="PORT must be at most 65535, got 65536"):
        env.int("PORT", 6379, maximum=65535)
    assert Env({"PORT": "65535"}).int("PORT", 6379, maximum=65535) == 65535


@pytest.mark.parametrize(
    ("raw", "expected"), [(None, 250), ("", 250), ("2000", 2000), (" Unlimited ", None), ("1", 1)]
)
def test_a_limit_is_a_whole_number_or_unlimited(raw, expected):
    environ = {} if raw is None else {"LIMIT": raw}
    assert Env(environ).limit("LIMIT", 250) == expected


@pytest.mark.parametrize("raw", ["0", "-5", "2.5", "TIER_250", "many"])
def test_a_limit_that_is_neither_names_the_variable(raw):
    with pytest.raises(
        EnvError, match=r"LIMIT must be a whole number of at least 1 or 'unlimited'"
    ):
        Env({"LIMIT": raw}).limit("LIMIT", 250)


def test_url_errors_never_show_the_password():
    env = Env({"URL": "redis://:hunter2@redis:port/0", "PLAIN": "redis:6379"})

    with pytest.raises(EnvError, match="URL has a malformed port") as malformed:
        env.url("URL", "", schemes=("redis",))
    assert "hunter2" not in str(malformed.value)
    with pytest.raises(EnvError, match="PLAIN must be a URL such as redis://"):
        env.url("PLAIN", "", schemes=("redis",))
    assert Env({}).url("URL", "redis://h:1/0", schemes=("redis",)) == "redis://h:1/0"


def test_a_token_that_does_not_fit_is_not_printed():
    with pytest.raises(EnvError, match="TOKEN must be a token") as refused:
        Env({"TOKEN": "Bearer s3cr3t"}).optional("TOKEN", shape=TOKEN)
    assert "s3cr3t" not in str(refused.value)


def test_the_placeholder_secret_is_refused_in_production_only():
    env = Env({"SECRET": "change-me"})

    assert env.secret("SECRET", production=False) == "change-me"
    with pytest.raises(EnvError, match="SECRET is still 'change-me'"):
        env.secret("SECRET", production=True)


def test_choices_are_case_insensitive():
    assert Env({"LEVEL": " warning"}).choice("LEVEL", "INFO", choices=("INFO", "WARNING")) == (
        "WARNING"
    )


def test_defaults_apply_when_unset_or_empty():
    env = Env({"EMPTY": ""})

    assert env.int("EMPTY", 7) == 7
    assert env.str("UNSET", "fallback") == "fallback"
    assert env.optional("EMPTY") is None
    assert env.list("UNSET", ["a"]) == ["a"]
    assert Env({"HOSTS": " a, b ,,c "}).list("HOSTS", []) == ["a", "b", "c"]


def test_redis_url_without_password():
    assert redis_url(host="redis", port=6379, password=None, db=2) == "redis://redis:6379/2"


def test_password_is_quoted_completely():
    url = redis_url(host="redis", port=6379, password=AWKWARD_PASSWORD, db=0)

    assert url == "redis://:p%40ss%3Aw%2Frd%23%3F%25%26x@redis:6379/0"
    assert Connection(url).password == AWKWARD_PASSWORD


def test_built_url_authenticates_against_a_real_redis_with_an_awkward_password(tmp_path):
    # Given a Redis that requires a password full of URL delimiters
    server = PrivateRedis(tmp_path, password=AWKWARD_PASSWORD).start()
    try:
        url = redis_url(host="127.0.0.1", port=server.port, password=AWKWARD_PASSWORD, db=0)
        # When kombu (the broker transport) and redis-py connect with the built URL
        with Connection(url) as connection:
            connection.ensure_connection(max_retries=1)
        client = redis.Redis.from_url(url)
        # Then both authenticate
        assert client.ping() is True
        client.close()
        # And the wrong password is rejected, so the check above could fail
        bad = redis_url(host="127.0.0.1", port=server.port, password="wrong", db=0)
        with pytest.raises(redis.AuthenticationError):
            redis.Redis.from_url(bad).ping()
    finally:
        server.stop()
