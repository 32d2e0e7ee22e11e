"""Tests of the API stand-ins' shared machinery (devstack/standins), left out with them."""
