"""Settings every test module shares."""

from __future__ import annotations

import signal

from hypothesis import settings

# Tests send real Ctrl-Cs (SIGINT) to graphdiff, in this process and to the commands it starts. A shell
# runs a background job (`python -m pytest &`, some CI runners) with SIGINT ignored, and an ignored signal
# stays ignored in every child: give this process Python's own handler, which children then reset to the
# default when they start.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Every property test tries the same inputs on every run (CI must be deterministic); a test or profile that
# wants a random search says so itself (tests/fuzz_settings.py's long profile).
settings.register_profile("graphdiff", derandomize=True, database=None)
settings.load_profile("graphdiff")
