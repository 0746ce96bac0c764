# SPDX-License-Identifier: GPL-2.0-only
"""Message framing end to end (both data paths): responses of every shape a backend sends and
transfers cut short, through strgd to a real client.

suite.py registers these with register(suite_module) in every mode.
"""

import harness as h  # noqa: F401
from harness import RawConn, request  # noqa: F401

S = None  # the suite module (Fail, check, expect_pool, ...), set by register()

FRAMING_TESTS = []


def register(suite):
    """Add the framing tests to the suite's list."""
    global S
    S = suite
    for fn in FRAMING_TESTS:
        suite.test(fn)
