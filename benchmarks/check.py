"""The agreement check: a system's loss and every gradient against hand-written numpy's."""

from __future__ import annotations

from typing import Any

import numpy as np

RTOL = 1e-9
ATOL = 1e-12


def agreement(
    loss: float, grads: dict[str, np.ndarray], ref_loss: float, ref_grads: dict[str, np.ndarray]
) -> dict[str, Any]:
    """Whether every value is within RTOL / ATOL of the reference, the largest absolute error of each,
    and a line for each that is not."""
    problems: list[str] = []
    errors: dict[str, float] = {}
    for name, value, ref in [("loss", loss, ref_loss)] + [
        (f"d/d{k}", grads.get(k), ref_grads[k]) for k in ref_grads
    ]:
        if value is None:
            problems.append(f"{name}: missing")
            continue
        value, ref = np.asarray(value, dtype=np.float64), np.asarray(ref, dtype=np.float64)
        if value.shape != ref.shape:
            problems.append(f"{name}: shape {value.shape}, expected {ref.shape}")
            continue
        error = np.abs(value - ref)
        errors[name] = float(np.max(error)) if error.size else 0.0
        if not np.all(np.isfinite(value)):
            problems.append(f"{name}: not finite")
        elif not np.all(error <= ATOL + RTOL * np.abs(ref)):
            worst = np.unravel_index(np.argmax(error / (ATOL + RTOL * np.abs(ref))), ref.shape)
            problems.append(
                f"{name}: max abs error {errors[name]:.3g} (at {tuple(map(int, worst))}: "
                f"{float(value[worst])!r} vs numpy {float(ref[worst])!r})"
            )
    return {"ok": not problems, "problems": problems, "max_abs_error": errors}
