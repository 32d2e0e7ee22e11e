"""Riding out a database restart: a repeatable write tried again, pooled connections checked."""

from __future__ import annotations

import time

import pytest
from django.db import DataError, OperationalError

from ops.db import RETRY_MAX_SECONDS, database_retry_countdown, until_database_answers
from tests.startup import manage, start

pytestmark = pytest.mark.django_db


def test_a_write_is_tried_again_until_the_database_answers():
    # given a database that drops the first two tries
    tries = []

    def write():
        tries.append(1)
        if len(tries) < 3:
            raise OperationalError("server closed the connection unexpectedly")
        return "written"

    # when, then the third try's answer comes back
    assert until_database_answers(write, deadline=time.monotonic() + 5) == "written"
    assert len(tries) == 3


def test_the_database_error_is_raised_at_the_deadline():
    def write():
        raise OperationalError("connection refused")

    started = time.monotonic()
    with pytest.raises(OperationalError):
        until_database_answers(write, deadline=started + 0.5)
    assert time.monotonic() - started < 1.5


def test_bad_data_is_not_tried_again():
    tries = []

    def write():
        tries.append(1)
        raise DataError("value too long")

    with pytest.raises(DataError):
        until_database_answers(write, deadline=time.monotonic() + 5)
    assert len(tries) == 1


def test_task_countdowns_grow_and_stay_bounded():
    assert 0.5 <= database_retry_countdown(0) <= 1
    assert all(
        RETRY_MAX_SECONDS / 2 <= database_retry_countdown(n) <= RETRY_MAX_SECONDS
        for n in range(4, 40)
    )


def test_a_pool_checks_each_connection_it_hands_out():
    # given the gevent worker's settings (a pool), then a connection that died with a database
    # restart is replaced before a task gets it
    check = "from django.db import connection; print(connection.pool._check is not None)"
    done = start(
        manage("shell", "-c", check),
        DATABASE_URL="postgres://app@127.0.0.1:1/app",
        DATABASE_POOL_MAX_SIZE="20",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "True"
