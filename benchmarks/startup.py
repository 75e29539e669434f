"""Start-up: the wall time of a whole ``graphdiff grad`` process on the circuit's spec, next to Python's own
start-up and the imports of numpy and PyTorch, each a fresh subprocess timed from the outside.

Every command runs once first, untimed (bytecode caches written, files in the page cache), then the
commands take turns, ``runs`` times each, so that a change in the machine's load falls on all of them
alike; the median and minimum of each command's runs are kept.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

#: The graphdiff row's key: the one the start-up target is read from.
GRAPHDIFF = "graphdiff_grad"
#: The row the others are divided by.
BARE_PYTHON = "python_pass"

#: Seconds one run of one command may take.
RUN_TIMEOUT_S = 120.0


def graphdiff_command(spec: Path, python: str = sys.executable) -> list[str]:
    """``graphdiff grad SPEC`` with the console script installed next to ``python``, or else
    ``python -m graphdiff grad SPEC``."""
    script = Path(python).parent / "graphdiff"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script), "grad", str(spec)]
    return [python, "-m", "graphdiff", "grad", str(spec)]


def commands(spec: Path, torch_python: str | None) -> list[dict[str, Any]]:
    """The commands timed: graphdiff first, then the ones it is compared with (torch's import only when
    ``torch_python`` is an interpreter that has it)."""
    python = sys.executable
    rows = [
        {"key": GRAPHDIFF, "argv": graphdiff_command(spec, python), "label": f"graphdiff grad {spec.name}"},
        {"key": "python_numpy", "argv": [python, "-c", "import numpy"], "label": 'python -c "import numpy"'},
        {"key": BARE_PYTHON, "argv": [python, "-c", "pass"], "label": "python -c pass"},
    ]
    if torch_python:
        rows.append(
            {
                "key": "python_torch",
                "argv": [torch_python, "-c", "import torch"],
                "label": 'python -c "import torch"',
                "python": torch_python,
            }
        )
    return rows


def _run(argv: list[str]) -> tuple[float, str | None]:
    """One run's wall time, and what went wrong (None: it exited with status 0)."""
    start = time.perf_counter()
    try:
        done = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=RUN_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return time.perf_counter() - start, f"still running after {RUN_TIMEOUT_S:g} s (stopped)"
    except OSError as exc:
        return time.perf_counter() - start, f"{type(exc).__name__}: {exc}"
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        tail = " / ".join(done.stderr.decode(errors="replace").strip().splitlines()[-3:])
        return elapsed, f"exit code {done.returncode}" + (f": {tail}" if tail else "")
    return elapsed, None


def measure(rows: list[dict[str, Any]], runs: int) -> list[dict[str, Any]]:
    """Time each row's command ``runs`` times (after one untimed run), in turns; a command that fails
    once is reported with its error and not run again."""
    records = [{**row, "status": "ok", "times": []} for row in rows]
    for record in records:
        _, problem = _run(record["argv"])
        if problem:
            record.update(status="error", message=problem)
    for _ in range(runs):
        for record in records:
            if record["status"] != "ok":
                continue
            elapsed, problem = _run(record["argv"])
            if problem:
                record.update(status="error", message=problem)
            else:
                record["times"].append(elapsed)
    for record in records:
        if record["status"] == "ok":
            record.update(median_s=statistics.median(record["times"]), min_s=min(record["times"]), runs=runs)
    return records
