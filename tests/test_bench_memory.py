"""bench/memory.py: the memory of a process tree, as the benchmarks read it from a worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from bench.memory import MemorySampler, cpu_seconds, memory_now, process_tree

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

# A parent that forks a child holding 64 MiB (written, so resident), then both wait.
TREE = """
import os, sys, time
if os.fork() == 0:
    block = bytearray(64 * 2**20)
    for i in range(0, len(block), 4096):
        block[i] = 1
    print("ready", flush=True)
    time.sleep(30)
    os._exit(0)
time.sleep(30)
"""


def test_a_tree_is_summed_over_the_parent_and_its_children_and_its_peak_kept():
    parent = subprocess.Popen(
        [sys.executable, "-c", TREE], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert parent.stdout is not None
        assert parent.stdout.readline() == "ready\n"
        # Given a parent and its forked child, the child holding 64 MiB
        tree = process_tree(parent.pid)
        assert tree[0] == parent.pid
        assert len(tree) == 2
        # When the tree is measured / Then both count, and the child's block is in the sum
        usage = memory_now(parent.pid)
        assert usage.processes == 2
        assert usage.rss_mib > 64
        assert usage.pss_mib > 64
        assert usage.pss_mib <= usage.rss_mib  # shared pages count once in PSS
        # And a sampler keeps at least that as its peak
        sampler = MemorySampler(parent.pid, interval=0.05).start()
        time.sleep(0.2)
        peak = sampler.stop()
        assert peak.samples >= 2
        assert peak.rss_mib > 64
        assert cpu_seconds(parent.pid) >= 0
    finally:
        os.killpg(parent.pid, signal.SIGKILL)  # the child too
        parent.wait()
    # And a process that is gone is an error now, not a zero
    with pytest.raises(ProcessLookupError):
        memory_now(parent.pid)
