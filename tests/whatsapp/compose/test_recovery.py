"""Faults on the running containers (the dev setup's project, with the WhatsApp stand-in): a
batch of multi-part replies is on its way when worker-io is killed (``docker kill``), stopped as
a deploy stops it (``docker compose stop``, then ``up``), or Redis is restarted (``docker compose
restart redis``). Every part then arrives exactly once, in order per contact, within 30 s of the
fault clearing, and worker-io's container log since the fault holds nothing unrecoverable.

The same faults on local processes, at a larger scale: tests/whatsapp/test_faults.py (make chaos).
The rows this module measures go to var/compose-fault-report.md.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.compose.project import ComposeProject, docker
from tests.faults import Report, clean, written_to
from tests.scratch import REPO_DIR

pytestmark = pytest.mark.compose

# 120 parts, 2 s apart per contact (WHATSAPP_PART_SPACING_SECONDS, set by COMPOSE_ENV in
# tests/whatsapp/__init__.py), and 3 status webhooks each for worker-io to process as well: what
# the containers, sharing 2 cores, get through in time.
CONTACTS, PARTS = 20, 6
TOTAL = CONTACTS * PARTS
# The fault comes once half the parts arrived: every contact has parts sent and parts held by
# worker-io as countdown tasks.
MID_BATCH = TOTAL // 2
GOAL_SECONDS = 30.0
REPORT = REPO_DIR / "var" / "compose-fault-report.md"
LOGS = REPO_DIR / "var" / "compose-fault-logs"
STANDIN = "http://whatsapp-standin:8081/_standin"
DONE = ("sent", "delivered", "read")

# Run by `python -c` in the web container: the parts the stand-in accepted for contacts whose
# number starts with argv[1] ([to, "part NN", arrival time, wamid]), once at least argv[2] are
# there or argv[3] seconds have passed.
WATCH = f"""
import json, sys, time, urllib.request
prefix, at_least, deadline = sys.argv[1], int(sys.argv[2]), time.time() + float(sys.argv[3])
while True:
    with urllib.request.urlopen('{STANDIN}/received', timeout=10) as response:
        received = json.load(response)
    mine = [
        [r['payload']['to'], r['payload']['text']['body'][:7], r['at'], r['wamid']]
        for r in received
        if r.get('wamid') and str(r['payload'].get('to', '')).startswith(prefix)
    ]
    if len(mine) >= at_least or time.time() > deadline:
        break
    time.sleep(0.5)
print(json.dumps(mine))
"""

# Run by `manage.py shell -c` in the web container, after a line giving prefix, contacts, parts
# and standin: each of `contacts` numbers wrote just now (their 24-hour window open in the app,
# and at the stand-in, told as Meta would know), then a reply of `parts` parts ("part 01 lorem
# ipsum ...", each near 4,000 characters) queued to each, as a view queues one; the row ids per
# number.
SEND = """
import json, urllib.request
from django.utils import timezone
from whatsapp.models import Contact
from whatsapp.services import text_send_staggered

text = "\\n".join(f"part {n:02d} " + "lorem ipsum " * 330 for n in range(1, parts + 1))
numbers = [f"{prefix}{n:04d}" for n in range(contacts)]
wrote_at = timezone.now()
for to in numbers:
    Contact.objects.update_or_create(wa_id=to, defaults={"last_inbound_at": wrote_at})
    window = json.dumps({"wa_id": to, "at": wrote_at.timestamp()}).encode()
    request = urllib.request.Request(
        f"{standin}/window", data=window, headers={"Content-Type": "application/json"}
    )
    urllib.request.urlopen(request, timeout=10).close()
print(json.dumps({to: text_send_staggered(to=to, text=text) for to in numbers}))
"""
# The same, after a line giving ids and done: each row's status and wamid, once every row is
# done (or 15 s passed).
ROWS = """
import json, time
from whatsapp.models import OutboundMessage

rows = OutboundMessage.objects.filter(pk__in=ids)
deadline = time.time() + 15
while rows.exclude(status__in=done).exists() and time.time() < deadline:
    time.sleep(0.5)
print(json.dumps({r.pk: [r.status, r.wamid] for r in rows}))
"""


@dataclass
class Arrival:
    to: str
    part: str
    at: float
    wamid: str


@pytest.fixture(scope="module")
def fault_report() -> Iterator[Report]:
    yield from written_to(REPORT)


@pytest.fixture(scope="module")
def whole(dev: ComposeProject) -> Iterator[ComposeProject]:
    """The dev project, left with every service up for the tests after this module."""
    yield dev
    dev.up()


@pytest.fixture
def project(request: pytest.FixtureRequest, whole: ComposeProject) -> Iterator[ComposeProject]:
    """The dev project with every service up and healthy, and the stand-in's record emptied.
    worker-io's log from the test on is kept in var/compose-fault-logs/."""
    whole.up()
    whole.exec(
        "web",
        "python",
        "-c",
        "import urllib.request; "
        f"urllib.request.urlopen(urllib.request.Request('{STANDIN}/reset', method='POST'))",
    )
    started = time.time()
    yield whole
    LOGS.mkdir(parents=True, exist_ok=True)
    (LOGS / f"{request.node.name}.log").write_text(whole.logs("worker-io", since=started))
    # Whatever the fault, Meta's limits held: the stand-in refused nothing for them.
    refusals = whole.exec(
        "web",
        "python",
        "-c",
        "import urllib.request; "
        f"print(urllib.request.urlopen('{STANDIN}/refusals').read().decode())",
    )
    assert json.loads(refusals.strip().splitlines()[-1]) == {}, refusals


def manage_shell(project: ComposeProject, code: str) -> str:
    """Run Python in the web container with Django loaded; its last line of output."""
    out = project.exec("web", "python", "manage.py", "shell", "-c", code)
    return out.strip().splitlines()[-1]


def send_batch(project: ComposeProject, prefix: str) -> dict[str, list[int]]:
    """CONTACTS replies of PARTS parts each, queued by the web container as a view would; the
    row ids per contact."""
    given = f"prefix, contacts, parts, standin = {prefix!r}, {CONTACTS}, {PARTS}, {STANDIN!r}\n"
    sent: dict[str, list[int]] = json.loads(manage_shell(project, given + SEND))
    assert all(len(ids) == PARTS for ids in sent.values())
    return sent


def arrivals(project: ComposeProject, prefix: str, at_least: int, timeout: float) -> list[Arrival]:
    out = project.exec("web", "python", "-c", WATCH, prefix, str(at_least), str(timeout))
    return [Arrival(*row) for row in json.loads(out)]


def rows(project: ComposeProject, sent: dict[str, list[int]]) -> dict[int, tuple[str, str]]:
    """Each row's status and wamid, once every row is sent (or 15 s passed)."""
    given = f"ids, done = {[i for ids in sent.values() for i in ids]!r}, {DONE!r}\n"
    states = json.loads(manage_shell(project, given + ROWS))
    return {int(pk): (status, wamid) for pk, (status, wamid) in states.items()}


def recovered(
    project: ComposeProject,
    prefix: str,
    sent: dict[str, list[int]],
    times: tuple[float, float],
    report: Report,
    fault: str,
) -> None:
    """After a fault at ``times[0]``, cleared at ``times[1]``: every part arrives exactly once and
    in order, the rows agree, the last one within GOAL_SECONDS of the clearing (the fault's row
    goes in the report first), worker-io's log since the fault is clean, and it is healthy."""
    fault_at, cleared_at = times
    got = arrivals(project, prefix, TOTAL, timeout=90)
    received = Counter((a.to, a.part) for a in got)
    took = max(a.at for a in got) - cleared_at
    report.add(fault, True, len(got), len(received), TOTAL, took)
    assert len(received) == TOTAL, f"{TOTAL - len(received)} of {TOTAL} parts never arrived"
    assert max(received.values()) == 1, [key for key, n in received.items() if n > 1]
    by_contact: dict[str, list[str]] = defaultdict(list)
    for arrival in sorted(got, key=lambda a: a.at):
        by_contact[arrival.to].append(arrival.part)
    expected = [f"part {n:02d}" for n in range(1, PARTS + 1)]
    assert by_contact == {to: expected for to in sent}
    # The rows agree: each sent once, with the id the stand-in gave that one delivery.
    states = rows(project, sent)
    assert {status for status, _ in states.values()} <= set(DONE), Counter(
        status for status, _ in states.values()
    )
    assert sorted(wamid for _, wamid in states.values()) == sorted(a.wamid for a in got)
    assert took < GOAL_SECONDS, took
    assert clean(project.logs("worker-io", since=fault_at)) == []
    project.wait_health("worker-io", "healthy", timeout=60)


def under_way(project: ComposeProject, prefix: str) -> dict[str, list[int]]:
    """A batch queued, and half of it delivered."""
    sent = send_batch(project, prefix)
    got = arrivals(project, prefix, MID_BATCH, timeout=60)
    assert len(got) >= MID_BATCH, f"only {len(got)} parts arrived before the fault"
    return sent


def worker_io(project: ComposeProject) -> str:
    [container] = project.containers("worker-io", all_states=False)
    return container


def ready_at(project: ComposeProject, since: float, timeout: float = 60) -> float:
    """When worker-io first logged that it is ready after ``since`` (Docker's timestamps)."""
    deadline = time.monotonic() + timeout
    while True:
        out = project.run(
            "logs",
            "--timestamps",
            "--no-color",
            "--no-log-prefix",
            f"--since={since:.3f}",
            "worker-io",
        ).stdout
        stamps = [line.split()[0] for line in out.splitlines() if line.endswith(" ready.")]
        if stamps:
            return dt.datetime.fromisoformat(stamps[0]).timestamp()
        assert time.monotonic() < deadline, f"worker-io not ready within {timeout:.0f} s"
        time.sleep(0.5)


def worker_io_up(project: ComposeProject, fault_at: float) -> tuple[float, float]:
    """``docker compose up`` worker-io again: when the command returned, and how long after it
    the worker was ready."""
    project.run("up", "-d", "--no-deps", "worker-io")
    cleared_at = time.time()
    return cleared_at, ready_at(project, since=fault_at) - cleared_at


def test_docker_kill_of_worker_io_mid_batch_then_restart(project, fault_report):
    prefix = "1555201"
    sent = under_way(project, prefix)
    # when worker-io is killed (SIGKILL: no chance to put back the countdown tasks it holds;
    # Docker counts `docker kill` as a manual stop, so no restart policy acts) and started again
    fault_at = time.time()
    docker("kill", worker_io(project))
    cleared_at, ready = worker_io_up(project, fault_at)
    # then every part arrives exactly once and in order, soon after the restart, and the worker
    # logged nothing it could not recover from
    fault = f"`docker kill` worker-io mid-batch, `up` (worker ready {ready:.1f} s later)"
    recovered(project, prefix, sent, (fault_at, cleared_at), fault_report, fault)


def test_compose_stop_of_worker_io_mid_batch_as_a_deploy_does_then_up(project, fault_report):
    prefix = "1555202"
    sent = under_way(project, prefix)
    # when worker-io is stopped as a deploy stops it (SIGTERM), and brought up again
    fault_at = time.time()
    stopped = project.stop("worker-io")
    cleared_at, ready = worker_io_up(project, fault_at)
    # then it stopped cleanly within its grace period, having put back what it held
    assert stopped.exit_code == 0, project.logs("worker-io", since=fault_at)[-3000:]
    assert stopped.seconds < stopped.grace, stopped
    # and every part arrives exactly once and in order, soon after, with a clean log
    fault = (
        f"`docker compose stop` worker-io mid-batch (took {stopped.seconds:.1f} s), `up` "
        f"(worker ready {ready:.1f} s later)"
    )
    recovered(project, prefix, sent, (fault_at, cleared_at), fault_report, fault)


def test_compose_restart_of_redis_mid_batch(project, fault_report):
    prefix = "1555203"
    sent = under_way(project, prefix)
    container = worker_io(project)
    restarts = project.inspect(container)["RestartCount"]
    # when Redis restarts (SIGTERM, AOF written, started again)
    fault_at = time.time()
    project.run("restart", "redis")
    cleared_at = time.time()
    # then every part arrives exactly once and in order, soon after Redis is back, with a clean
    # log, and worker-io rode it out in place: not restarted
    fault = f"`docker compose restart redis` mid-batch ({cleared_at - fault_at:.1f} s)"
    recovered(project, prefix, sent, (fault_at, cleared_at), fault_report, fault)
    assert project.inspect(container)["RestartCount"] == restarts
