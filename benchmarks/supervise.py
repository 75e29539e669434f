"""Running worker.py subprocesses: one workload after another, each with a time limit.

A worker reports events to a file as it goes (which workload, which phase). If one takes longer than
its limit (say, a JIT compile of 64,300 scalar ops), it is stopped and the next worker goes on with the
remaining workloads; if one dies, the workload it was on is reported with the end of its stderr.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WORKER = HERE / "worker.py"


@dataclass(frozen=True)
class Limits:
    #: Seconds a workload may spend being built (for JAX: traced and compiled).
    setup_s: float
    #: Seconds a workload may take in all.
    total_s: float


@dataclass
class Outcome:
    #: One record per workload: a worker's "result" event, or {"status": ..., "message": ...}.
    records: dict[str, dict[str, Any]]
    version: str | None = None
    unavailable: str | None = None


def run_worker(
    args: list[str],
    workloads: list[str],
    limits: Limits,
    env: dict[str, str] | None = None,
    python: str | None = None,
) -> Outcome:
    """Run ``worker.py ARGS`` (with ``{workloads}`` in ARGS replaced by the ones left to do) until every
    workload has a record; with ``python`` (an interpreter), in that Python instead of this one."""
    outcome = Outcome({})
    while True:
        remaining = [w for w in workloads if w not in outcome.records]
        if not remaining or outcome.unavailable:
            return outcome
        argv = [a.replace("{workloads}", ",".join(remaining)) for a in args]
        _run_once(argv, limits, env, outcome, python or sys.executable)


def _run_once(
    argv: list[str], limits: Limits, env: dict[str, str] | None, outcome: Outcome, python: str
) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-worker-") as folder:
        events_path, stderr_path = Path(folder) / "events.jsonl", Path(folder) / "stderr.txt"
        events_path.touch()
        argv = [a.replace("{events}", str(events_path)) for a in argv]
        with open(stderr_path, "w") as stderr, open(events_path) as events:
            process = subprocess.Popen(
                [python, str(WORKER), *argv],
                cwd=HERE,
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                env={**os.environ, **(env or {}), "BENCH_TMPDIR": folder},
                start_new_session=True,
            )
            state, pending = _State(), ""
            try:
                while True:
                    exited = process.poll() is not None
                    pending += events.read()
                    *lines, pending = pending.split("\n")
                    for line in lines:
                        state.take(json.loads(line), outcome)
                    if exited:
                        break
                    overdue = state.overdue(limits)
                    if overdue:
                        _stop(process)
                        outcome.records[state.workload] = {
                            "status": "timeout",
                            "phase": state.phase,
                            "message": overdue,
                        }
                        return
                    time.sleep(0.02)
            except BaseException:
                _stop(process)
                raise
        if state.workload is not None and not state.done:
            outcome.records[state.workload] = {
                "status": "crashed",
                "message": f"exit code {process.returncode} in {state.phase}" + _tail(stderr_path),
            }
        elif not state.done and not outcome.unavailable:
            outcome.unavailable = f"worker failed (exit code {process.returncode})" + _tail(stderr_path)


def _tail(stderr_path: Path) -> str:
    lines = stderr_path.read_text(errors="replace").strip().splitlines()[-5:]
    return ": " + " / ".join(lines) if lines else ""


def _stop(process: subprocess.Popen) -> None:
    """Stop the worker and anything it started (it leads its own process group)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


class _State:
    """Where a worker is: its current workload and phase, and since when."""

    def __init__(self) -> None:
        self.workload: str | None = None
        self.phase = "startup"
        self.started = self.phase_started = time.monotonic()
        self.done = False

    def take(self, event: dict[str, Any], outcome: Outcome) -> None:
        kind = event["event"]
        now = time.monotonic()
        if kind == "version":
            outcome.version = event["version"]
        elif kind == "unavailable":
            outcome.unavailable = event["reason"]
        elif kind == "start":
            self.workload, self.phase, self.started, self.phase_started = event["workload"], "setup", now, now
        elif kind == "phase":
            self.phase, self.phase_started = event["phase"], now
        elif kind == "result":
            outcome.records[event["workload"]] = {"status": "ok", **event}
            self.workload = None
        elif kind == "error":
            outcome.records[event["workload"]] = {"status": "error", **event}
            self.workload = None
        elif kind == "done":
            self.done = True

    def overdue(self, limits: Limits) -> str | None:
        if self.workload is None:
            return None
        now = time.monotonic()
        if self.phase == "setup" and now - self.phase_started > limits.setup_s:
            return f"still building after {limits.setup_s:g} s (stopped)"
        if now - self.started > limits.total_s:
            return f"still running ({self.phase}) after {limits.total_s:g} s (stopped)"
        return None
