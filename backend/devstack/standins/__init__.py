"""Local stand-ins for the external APIs, runnable as processes (`python -m devstack.standins.X`)
and usable in-process by the tests. They behave like the real APIs, errors and latency included.
"""
