"""Hypothesis profiles of the loader fuzz tests (tests/test_fuzz_loader.py).

Two profiles, registered here and applied by the fuzz tests themselves (never loaded globally, so the other
property tests keep their own settings):

- ``graphdiff-fuzz-ci`` (the default): ``CI_EXAMPLES`` examples per fuzz test, derandomized, so every CI
  run tries the same inputs and the whole file stays well under a minute.
- ``graphdiff-fuzz-long``: chosen by setting ``GRAPHDIFF_FUZZ_EXAMPLES``, which sets the number of examples
  per fuzz test; random (a new seed each run), for a longer search by hand::

      GRAPHDIFF_FUZZ_EXAMPLES=20000 python -m pytest tests/test_fuzz_loader.py

  Add ``GRAPHDIFF_FUZZ_REPORT=-`` (or a file name) to print (or write as JSON) the figures of each fuzz
  test: examples run, successes, graphdiff errors, known bugs hit, slowest load, largest allocation; and
  ``GRAPHDIFF_FUZZ_STRICT=1`` to fail on the known bugs too (see ``KNOWN_BUGS`` in the test file).

Neither profile uses hypothesis's example database (no ``.hypothesis/`` folder is written); a failure in
the long run prints a ``@reproduce_failure`` blob that replays it.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

EXAMPLES_VARIABLE = "GRAPHDIFF_FUZZ_EXAMPLES"
REPORT_VARIABLE = "GRAPHDIFF_FUZZ_REPORT"
STRICT_VARIABLE = "GRAPHDIFF_FUZZ_STRICT"

#: Examples per fuzz test in CI.
CI_EXAMPLES = 200

CI_PROFILE = "graphdiff-fuzz-ci"
LONG_PROFILE = "graphdiff-fuzz-long"

_COMMON = {
    # Each load is timed by the test itself (2 s bound); hypothesis's deadline would also count generation.
    "deadline": None,
    "database": None,
    "print_blob": True,
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
}


def long_run_examples() -> int | None:
    """The number of examples asked for by ``GRAPHDIFF_FUZZ_EXAMPLES``, or None when it is not set."""
    text = os.environ.get(EXAMPLES_VARIABLE, "").strip()
    if not text:
        return None
    try:
        count = int(text)
    except ValueError:
        raise ValueError(f"{EXAMPLES_VARIABLE} must be a positive integer, got {text!r}") from None
    if count < 1:
        raise ValueError(f"{EXAMPLES_VARIABLE} must be a positive integer, got {text!r}")
    return count


settings.register_profile(CI_PROFILE, max_examples=CI_EXAMPLES, derandomize=True, **_COMMON)
settings.register_profile(
    LONG_PROFILE, max_examples=long_run_examples() or CI_EXAMPLES, derandomize=False, **_COMMON
)


def profile_name() -> str:
    return LONG_PROFILE if long_run_examples() is not None else CI_PROFILE


def fuzz_profile() -> settings:
    """The settings the fuzz tests run under: the long profile when ``GRAPHDIFF_FUZZ_EXAMPLES`` is set."""
    return settings.get_profile(profile_name())


def strict() -> bool:
    """Whether known bugs fail the fuzz tests too (``GRAPHDIFF_FUZZ_STRICT=1``)."""
    return os.environ.get(STRICT_VARIABLE, "").strip() not in ("", "0")
