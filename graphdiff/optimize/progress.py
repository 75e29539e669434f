"""Progress bars for long runs (tqdm), off unless asked for, so library calls stay silent."""

from __future__ import annotations

import sys

from tqdm import tqdm

#: Seconds between redraws (tqdm's own default redraws ten times as often).
MIN_INTERVAL = 0.2


def progress_bar(total: int, description: str, *, unit: str, enabled: bool) -> tqdm:
    """A bar on stderr counting ``total`` units; a no-op object with the same methods when disabled."""
    return tqdm(
        total=total,
        desc=description,
        unit=unit,
        disable=not enabled,
        file=sys.stderr,
        dynamic_ncols=True,
        leave=False,
        mininterval=MIN_INTERVAL,
    )
