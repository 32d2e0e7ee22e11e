"""Pins this process's clock when TEST_CLOCK_OFFSET is set (seconds to add to the real time).

``tests.bootstrap`` sets it from TEST_NOW and puts this folder on PYTHONPATH, so the test process
and every worker, beat and other process it starts live at the same moment of a chosen date
(tests/test_dates.py runs the date-dependent suites that way).
"""

import os

if _offset := os.environ.get("TEST_CLOCK_OFFSET"):
    import time

    import time_machine

    time_machine.travel(time.time() + float(_offset), tick=True).start()
