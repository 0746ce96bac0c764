# SPDX-License-Identifier: GPL-2.0-only
"""What README.md promises, one test each (both data paths where it applies): timeouts, host
routes, stickiness, splice modes, the kernel handing connections back, IPv6, strgctl.

suite.py registers these with register(suite_module) in every mode.
"""

import harness as h  # noqa: F401
from harness import RawConn, request  # noqa: F401

S = None  # the suite module (Fail, check, expect_pool, ...), set by register()

PROMISE_TESTS = []


def register(suite):
    """Add the promise tests to the suite's list."""
    global S
    S = suite
    for fn in PROMISE_TESTS:
        suite.test(fn)
