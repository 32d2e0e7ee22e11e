"""The fault tests' own PostgreSQL: it starts, and starts again with its data after a stop."""

from __future__ import annotations

import psycopg
import pytest

from devstack.postgres_server import PrivatePostgres, postgres_binary


@pytest.fixture
def server(session_dir, request):
    try:
        postgres_binary("initdb")
    except RuntimeError as exc:
        pytest.skip(str(exc))
    # The session folder, not tmp_path: as root the server runs as `postgres`, which must reach it.
    server = PrivatePostgres(session_dir / f"postgres-{request.node.callspec.id}").start()
    yield server
    server.stop()


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_a_stopped_server_starts_again_on_its_port_with_its_data(server, mode):
    # given a row written, and a connection open
    with psycopg.connect(server.url, autocommit=True) as writer:
        writer.execute("create table kept (n int); insert into kept values (1)")
    held = psycopg.connect(server.url, autocommit=True)
    # when the server stops and starts again
    server.stop(mode)
    server.start()
    # then the open connection is gone, and a new one finds the row
    with pytest.raises(psycopg.OperationalError):
        held.execute("select 1")
    held.close()
    with psycopg.connect(server.url) as reader:
        assert reader.execute("select n from kept").fetchall() == [(1,)]
