import pytest

from ops.tasks import probe

pytestmark = [pytest.mark.processes, pytest.mark.django_db(transaction=True)]


def test_probe_round_trip(stack):
    stack.ensure("worker-io")
    stack.ensure("worker-cpu")
    for queue in ("io", "cpu"):
        result = probe.apply_async(queue=queue).get(timeout=20)
        assert result["hostname"].startswith(f"{queue}@")
