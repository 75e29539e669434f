"""One benchmark subprocess (started by run.py; not meant to be run by hand).

    worker.py time SYSTEM WORKLOADS EVENTS [--quick] [--repeats N] [--rounds R]
    worker.py memory SYSTEM WORKLOADS EVENTS [--quick]
    worker.py scaling SPEC EVENTS

Each reports to the file EVENTS, one JSON object per line, written as it goes, so that run.py knows
which workload and phase a process was in if it has to stop it (a JIT compile that takes too long) or if
it dies.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import importlib
import json
import sys
import time
import traceback
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import measure
from check import agreement
from systems import SYSTEMS
from workloads import make_data


class Events:
    def __init__(self, path: str) -> None:
        self.file = open(path, "a")  # noqa: SIM115 (kept open for the process's life)

    def __call__(self, event: str, **fields: Any) -> None:
        self.file.write(json.dumps({"event": event, "t": time.time(), **fields}) + "\n")
        self.file.flush()


def _load_system(name: str, emit: Events) -> Any:
    try:
        module = importlib.import_module(SYSTEMS[name].module)
    except ImportError as exc:
        emit("unavailable", reason=f"{type(exc).__name__}: {exc}")
        return None
    emit("version", version=module.version())
    return module


def time_workloads(
    system: str, workloads: list[str], quick: bool, repeats: int | None, rounds: int, emit: Events
) -> None:
    """Per workload: build, check one run against hand-written numpy, then time it (this process's share
    of ``rounds``)."""
    module = _load_system(system, emit)
    if module is None:
        return
    reference = importlib.import_module("sys_numpy")
    config = dataclasses.replace(measure.QUICK if quick else measure.FULL, repeats=repeats).per_round(rounds)
    for workload in workloads:
        with _reported(workload, emit):
            _time_one(module, reference, workload, quick, config, emit)
        gc.collect()


@contextlib.contextmanager
def _reported(workload: str, emit: Events) -> Iterator[None]:
    """An exception while measuring one workload is reported, and the next workload goes on."""
    emit("start", workload=workload, phase="setup")
    try:
        yield
    except Exception as exc:
        emit(
            "error",
            workload=workload,
            message=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(),
        )


def _time_one(module: Any, reference: Any, workload: str, quick: bool, config: Any, emit: Events) -> None:
    data = make_data(workload, quick)
    start = time.perf_counter()
    impl = getattr(module, workload)(data)
    setup_s = time.perf_counter() - start
    emit("phase", workload=workload, phase="check")
    loss, grads = impl.collect(impl.step())
    ref = getattr(reference, workload)(data)
    check = agreement(loss, grads, *ref.collect(ref.step()))
    del ref
    emit("phase", workload=workload, phase="timing")
    timing = measure.time_step(impl.step, config)
    emit("result", workload=workload, setup_s=setup_s, loss=loss, check=check, info=impl.info, **timing)


def memory_workloads(system: str, workloads: list[str], quick: bool, emit: Events) -> None:
    """Per workload: build, run twice (warm-up), then the peak RSS growth over the RSS before one more
    run (the high-water mark reset just before it); for systems whose memory tracemalloc sees, also the
    peak traced allocation during a further run."""
    module = _load_system(system, emit)
    if module is None:
        return
    for workload in workloads:
        with _reported(workload, emit):
            _memory_one(system, module, workload, quick, emit)
        gc.collect()


def _memory_one(system: str, module: Any, workload: str, quick: bool, emit: Events) -> None:
    impl = getattr(module, workload)(make_data(workload, quick))
    emit("phase", workload=workload, phase="memory")
    for _ in range(2):
        impl.step()
    gc.collect()
    reset = measure.reset_peak_rss()
    before = measure.rss_bytes() if reset else measure.peak_rss_bytes()
    out = impl.step()
    rss_growth = max(0, measure.peak_rss_bytes() - before)
    del out
    traced = None
    if SYSTEMS[system].traced:
        gc.collect()
        tracemalloc.start()
        out = impl.step()
        traced = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        del out
    method = "VmHWM reset" if reset else "ru_maxrss growth"
    emit("result", workload=workload, rss_growth_bytes=rss_growth, traced_peak_bytes=traced, method=method)


def scaling(spec: str, emit: Events) -> None:
    """Load (read + check) and compile one spec file; the times and the peak RSS."""
    import graphdiff as gd

    emit("start", workload=Path(spec).name, phase="load")
    gc.collect()
    reset = measure.reset_peak_rss()
    before = measure.rss_bytes() or 0
    start = time.perf_counter()
    graph = gd.load(spec)
    loaded = time.perf_counter()
    emit("phase", workload=Path(spec).name, phase="compile", load_check_s=loaded - start)
    plan = graph.plan
    compiled = time.perf_counter()
    peak = measure.peak_rss_bytes()
    emit(
        "result",
        workload=Path(spec).name,
        nodes=len(plan.steps),
        leaves=len(plan.leaf_slots),
        load_check_s=loaded - start,
        compile_s=compiled - loaded,
        peak_rss_bytes=peak,
        rss_growth_bytes=peak - before if reset else None,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="mode", required=True)
    for mode in ("time", "memory"):
        p = sub.add_parser(mode)
        p.add_argument("system", choices=list(SYSTEMS))
        p.add_argument("workloads", help="comma-separated")
        p.add_argument("events")
        p.add_argument("--quick", action="store_true")
        if mode == "time":
            p.add_argument("--repeats", type=int)
            p.add_argument("--rounds", type=int, default=1)
    p = sub.add_parser("scaling")
    p.add_argument("spec")
    p.add_argument("events")
    args = parser.parse_args()
    emit = Events(args.events)
    if args.mode == "time":
        time_workloads(args.system, args.workloads.split(","), args.quick, args.repeats, args.rounds, emit)
    elif args.mode == "memory":
        memory_workloads(args.system, args.workloads.split(","), args.quick, emit)
    else:
        scaling(args.spec, emit)
    emit("done")


if __name__ == "__main__":
    sys.exit(main())
