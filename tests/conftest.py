"""Settings every test module shares."""

from __future__ import annotations

import signal

# Tests send real Ctrl-Cs (SIGINT) to graphdiff, in this process and to the commands it starts. A shell
# runs a background job (`python -m pytest &`, some CI runners) with SIGINT ignored, and an ignored signal
# stays ignored in every child: give this process Python's own handler, which children then reset to the
# default when they start.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
