"""Timing and memory measurement inside one process, and facts about the machine."""

from __future__ import annotations

import dataclasses
import gc
import math
import os
import platform
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class TimingConfig:
    #: Warm-up: at most this many runs, stopping early once this much time has passed (at least one run).
    warmup_runs: int = 3
    warmup_s: float = 0.2
    #: Timed runs: at least ``min_runs`` and ``target_s`` in all, at most ``max_runs`` runs; once
    #: ``max_s`` has passed, ``enough_runs`` are enough (for workloads that take seconds per run).
    target_s: float = 1.0
    min_runs: int = 5
    max_runs: int = 100_000
    max_s: float = 15.0
    enough_runs: int = 3
    #: Runs shorter than this are timed in batches (per-run time = batch time / batch size).
    batch_s: float = 2e-4
    #: Exactly this many timed runs (batches), when set.
    repeats: int | None = None

    def per_round(self, rounds: int) -> TimingConfig:
        """This budget shared among ``rounds`` processes (whose samples are pooled)."""
        return dataclasses.replace(
            self,
            target_s=self.target_s / rounds,
            min_runs=math.ceil(self.min_runs / rounds),
            max_s=self.max_s / rounds,
            enough_runs=math.ceil(self.enough_runs / rounds),
            repeats=None if self.repeats is None else math.ceil(self.repeats / rounds),
        )


FULL = TimingConfig()
QUICK = TimingConfig(warmup_runs=1, warmup_s=0.01, target_s=0.03, min_runs=3, max_s=0.3, batch_s=1e-4)


def time_step(step: Callable[[], Any], config: TimingConfig) -> dict[str, Any]:
    """Warm up, then time ``step`` repeatedly: the seconds per run of each run (or batch of runs), their
    median and minimum."""
    start = time.perf_counter()
    warmup = 0
    while warmup < max(1, config.warmup_runs):
        step()
        warmup += 1
        if time.perf_counter() - start >= config.warmup_s:
            break
    one_run = (time.perf_counter() - start) / warmup
    batch = 1 if one_run >= config.batch_s else max(1, int(config.batch_s / max(one_run, 1e-9)))
    gc.collect()
    times: list[float] = []
    faults_before = minor_page_faults()
    started = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        for _ in range(batch):
            step()
        times.append((time.perf_counter() - t0) / batch)
        elapsed = time.perf_counter() - started
        if config.repeats is not None:
            if len(times) >= config.repeats:
                break
        elif (
            (elapsed >= config.target_s and len(times) >= config.min_runs)
            or (elapsed >= config.max_s and len(times) >= config.enough_runs)
            or len(times) >= config.max_runs
        ):
            break
    runs = len(times) * batch
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "page_faults_per_run": (minor_page_faults() - faults_before) / runs,
        "runs": runs,
        "batch": batch,
        "warmup_runs": warmup,
        "times": times,
    }


def minor_page_faults() -> int:
    """The process's minor page faults so far (pages first touched, or touched again after the
    allocator gave them back)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


# --- memory -------------------------------------------------------------------------------------------


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def rss_bytes() -> int | None:
    """The resident set size now."""
    kib = _status_kib("VmRSS")
    return None if kib is None else kib * 1024


def peak_rss_bytes() -> int:
    """The resident set's high-water mark (since the last :func:`reset_peak_rss`, where that works)."""
    kib = _status_kib("VmHWM")
    if kib is None:
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib * 1024


def reset_peak_rss() -> bool:
    """Reset the high-water mark to the current RSS (Linux: writing 5 to /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


#: For the memory subprocesses: a fixed mmap threshold turns off glibc's adaptive one, so arrays freed
#: by one run go back to the system instead of staying in the heap, and RSS follows live memory.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_TRIM_THRESHOLD_": "131072"}

#: For the timing subprocesses (every system alike, unless ``--default-malloc``): arrays under 32 MiB come
#: from the heap and the heap is not trimmed, so memory freed by one run is reused by the next. With
#: glibc's adaptive defaults, whether a run's temporaries stay in the heap or are given back and touched
#: again next run (hundreds of page faults a run, each a few microseconds on a VM) depends on where they
#: happen to land: the same code then times as either of two figures, about 2x apart, from one process
#: to the next.
TIMING_MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(1 << 30)}


# --- the machine --------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": cpu,
        "cores": usable,
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
