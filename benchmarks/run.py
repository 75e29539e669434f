"""Benchmark graphdiff against hand-written numpy, PyTorch, JAX, micrograd and autograd.

Every workload is built in every installed system from the same seeded data. Before anything is timed,
each system's loss and gradients are checked against hand-written numpy's; then each system is timed in
its own subprocess, peak memory is measured in fresh subprocesses, graphdiff's load + check + compile
time is measured on generated specs of growing size, and the start-up of a whole `graphdiff grad` process
is timed next to Python's own. The report (with the issue's targets, met or missed) is a markdown
document on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import measure
import report
import specs
import startup
from supervise import Limits, run_worker
from systems import SYSTEMS
from workloads import SCALAR_MLP_NODES_PER_POINT, WORKLOADS, make_data

EXAMPLES = """\
examples:
  python benchmarks/run.py --quick                      # a smoke test: small sizes, a few seconds
  python benchmarks/run.py                              # the full benchmark (several minutes)
  python benchmarks/run.py --markdown-out bench.md      # ... and the report written to a file too
  python benchmarks/run.py --systems numpy,graphdiff,torch --workloads circuit,chain
  python benchmarks/run.py --repeats 20 --rounds 1 --no-memory --scaling-sizes 10000,100000
  python benchmarks/run.py --threads 1                  # steadier numbers on a busy machine
  python benchmarks/run.py --workloads cnn --threads 1 --scaling-sizes ""   # the CNN only
  python benchmarks/run.py --python torch=/tmp/torchenv/bin/python          # torch from another venv
  python benchmarks/run.py --workloads mlp_tensor --scaling-sizes "" --startup-runs 0   # one workload

Peers (PyTorch, JAX, micrograd, autograd) come with the bench extra: pip install -e ".[bench]".
Systems that are not installed are skipped with a note. A system installed in another environment
runs there with --python SYSTEM=INTERPRETER (its workers need only numpy besides the system itself).
Exit status: 0, or 1 if a system disagrees with hand-written numpy or a measurement failed.
"""

FULL_SCALING = "10000,100000,1000000"
QUICK_SCALING = "1000,10000"
FULL_STARTUP_RUNS = 10
QUICK_STARTUP_RUNS = 3


def _list(choices: list[str]):
    def parse(text: str) -> list[str]:
        items = [item.strip() for item in text.split(",") if item.strip()]
        if items == ["all"]:
            return list(choices)
        unknown = [item for item in items if item not in choices]
        if unknown:
            raise argparse.ArgumentTypeError(
                f"unknown: {', '.join(unknown)} (choose from {', '.join(choices)})"
            )
        return items

    return parse


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"not a positive whole number: {text!r}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"not a whole number (0 or more): {text!r}")
    return value


def _interpreter(text: str) -> tuple[str, str]:
    system, sep, path = text.partition("=")
    if not sep or system not in SYSTEMS or not path:
        raise argparse.ArgumentTypeError(
            f"not SYSTEM=INTERPRETER with SYSTEM one of {', '.join(SYSTEMS)}: {text!r}"
        )
    if not os.access(path, os.X_OK):
        raise argparse.ArgumentTypeError(f"not an executable: {path!r}")
    return system, path


def _sizes(text: str) -> list[int]:
    try:
        return [int(item.replace("_", "")) for item in text.split(",") if item.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of node counts: {text!r}") from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/run.py",
        description=__doc__,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="small sizes and few runs: a smoke test")
    parser.add_argument(
        "--workloads",
        type=_list(list(WORKLOADS)),
        default=list(WORKLOADS),
        help=f"comma-separated, or all (default: all: {','.join(WORKLOADS)})",
    )
    parser.add_argument(
        "--systems",
        type=_list(list(SYSTEMS)),
        default=list(SYSTEMS),
        help="comma-separated (default: all installed); numpy is always run, as the reference",
    )
    parser.add_argument(
        "--python",
        type=_interpreter,
        action="append",
        default=[],
        metavar="SYSTEM=INTERPRETER",
        help="run SYSTEM's workers with this Python (say, a venv that has torch); repeatable "
        "(default: this Python for every system)",
    )
    parser.add_argument(
        "--repeats", type=_positive, help="exactly this many timed runs in all rounds (default: adaptive)"
    )
    parser.add_argument(
        "--rounds",
        type=_positive,
        help="time every system this many times, interleaved, and pool the samples (default 3; quick 1)",
    )
    parser.add_argument("--markdown-out", metavar="FILE", help="also write the report to FILE")
    parser.add_argument("--json-out", metavar="FILE", help="write every measurement as JSON to FILE")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurements")
    parser.add_argument(
        "--default-malloc",
        action="store_true",
        help="time with glibc's adaptive malloc settings instead of the pinned ones (see the report's "
        '"How this was measured"); the page faults per run show what that costs',
    )
    parser.add_argument(
        "--scaling-sizes",
        type=_sizes,
        help=f"node counts for load + check + compile (default {FULL_SCALING}; quick {QUICK_SCALING}; "
        "empty to skip)",
    )
    parser.add_argument(
        "--startup-runs",
        type=_count,
        help=f"timed runs of each start-up command (default {FULL_STARTUP_RUNS}; quick "
        f"{QUICK_STARTUP_RUNS}; 0 to skip)",
    )
    parser.add_argument(
        "--setup-timeout",
        type=float,
        help="seconds a system may take to build one workload (default 120; quick 20)",
    )
    parser.add_argument(
        "--timeout", type=float, help="seconds per system and workload (default 900; quick 60)"
    )
    parser.add_argument(
        "--scaling-timeout", type=float, help="seconds per load + check + compile (default 1800; quick 60)"
    )
    parser.add_argument(
        "--threads",
        type=_positive,
        help="threads for numpy's BLAS, torch and XLA (default: each library's own; 1 gives steadier "
        "numbers on a busy machine)",
    )
    parser.add_argument(
        "--jobs", type=_positive, default=2, help="memory subprocesses run at once (default 2)"
    )
    args = parser.parse_args(argv)
    args.python = dict(args.python)
    if args.threads:
        limit_threads(args.threads)
    if "numpy" not in args.systems:
        args.systems.insert(0, "numpy")
    if args.rounds is None:
        args.rounds = 1 if args.quick else 3
    if args.scaling_sizes is None:
        args.scaling_sizes = _sizes(QUICK_SCALING if args.quick else FULL_SCALING)
    if args.startup_runs is None:
        args.startup_runs = QUICK_STARTUP_RUNS if args.quick else FULL_STARTUP_RUNS
    args.limits = Limits(
        setup_s=args.setup_timeout or (20 if args.quick else 120),
        total_s=args.timeout or (60 if args.quick else 900),
    )
    args.scaling_limits = Limits(
        setup_s=float("inf"), total_s=args.scaling_timeout or (60 if args.quick else 1800)
    )
    return args


def limit_threads(n: int) -> None:
    """Set the thread count of every library, for the subprocesses (they inherit the environment)."""
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BENCH_TORCH_THREADS"):
        os.environ[name] = str(n)
    if n == 1:
        flags = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip()


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def applicable(system: str, workloads: list[str]) -> list[str]:
    return [
        w
        for w in workloads
        if SYSTEMS[system].runs(WORKLOADS[w].scalar) and WORKLOADS[w].implemented_by(system)
    ]


def run_timing(args: argparse.Namespace, results: dict[str, Any]) -> None:
    """Each system in its own subprocess, in ``--rounds`` rounds (every system once a round, one after
    another), so that a change in the machine's load falls on all of them alike; a system's samples from
    all rounds are pooled."""
    timing = results["timing"] = {w: {} for w in args.workloads}
    todo: dict[str, list[str]] = {}
    for system in args.systems:
        runs = applicable(system, args.workloads)
        for workload in args.workloads:
            if workload not in runs:
                timing[workload][system] = {"status": "n/a"}
        python = args.python.get(system)
        missing = SYSTEMS[system].missing(python)
        if missing:
            where = f" in {python}" if python else ""
            results["skipped"][system] = f"not installed{where} ({', '.join(missing)} not found)"
            timing_all(timing, system, runs, {"status": "skipped"})
        else:
            todo[system] = runs
    samples: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in range(args.rounds):
        for system, workloads in todo.items():
            if r > 0:  # only what worked
                workloads = [w for w in workloads if timing[w][system]["status"] == "ok"]
            if not workloads:
                continue
            log(f"timing {system}{_round(r, args.rounds)}: {', '.join(workloads)}")
            outcome = run_worker(
                _time_args(args, system),
                workloads,
                args.limits,
                env=None if args.default_malloc else measure.TIMING_MALLOC_ENV,
                python=args.python.get(system),
            )
            if outcome.unavailable:
                results["skipped"][system] = outcome.unavailable
                timing_all(timing, system, workloads, {"status": "skipped"})
                continue
            results["versions"][system] = outcome.version
            for workload in workloads:
                record = outcome.records[workload]
                samples.setdefault((workload, system), []).append(record)
                timing[workload][system] = pooled(samples[(workload, system)])
                log(f"  {workload}: {_summary(record)}")
        todo = {s: w for s, w in todo.items() if s not in results["skipped"]}


def timing_all(timing: dict[str, dict[str, Any]], system: str, workloads: list[str], record: dict) -> None:
    for workload in workloads:
        timing[workload][system] = dict(record)


def _round(r: int, rounds: int) -> str:
    return f" (round {r + 1} of {rounds})" if rounds > 1 else ""


def _time_args(args: argparse.Namespace, system: str) -> list[str]:
    worker_args = ["time", system, "{workloads}", "{events}", "--rounds", str(args.rounds)]
    if args.quick:
        worker_args.append("--quick")
    if args.repeats:
        worker_args += ["--repeats", str(args.repeats)]
    return worker_args


def pooled(records: list[dict[str, Any]]) -> dict[str, Any]:
    """One record from each round's: the samples pooled, the first disagreement or failure kept."""
    failed = [r for r in records if r["status"] != "ok"]
    if failed:
        return failed[0]
    times = [t for r in records for t in r["times"]]
    disagreeing = [r for r in records if not r["check"]["ok"]]
    return {
        **records[0],
        "check": (disagreeing or records)[0]["check"],
        "times": times,
        "median_s": statistics.median(times),
        "min_s": min(times),
        "runs": sum(r["runs"] for r in records),
        "page_faults_per_run": sum(r["page_faults_per_run"] * r["runs"] for r in records)
        / sum(r["runs"] for r in records),
        "rounds": len(records),
    }


def _summary(record: dict[str, Any]) -> str:
    if record["status"] != "ok":
        return f"{record['status']}: {record.get('message', '')}"
    agrees = "agrees" if record["check"]["ok"] else "DISAGREES"
    return f"{report.fmt_time(record['median_s'])} ({agrees})"


def run_memory(args: argparse.Namespace, results: dict[str, Any]) -> None:
    """Fresh subprocesses: one per (system, workload); in quick mode one per system."""
    memory = results["memory"] = {w: {} for w in args.workloads}
    tasks = []
    for system in args.systems:
        done = [w for w in args.workloads if results["timing"][w][system]["status"] == "ok"]
        for workload in args.workloads:
            if workload not in done:
                memory[workload][system] = dict(results["timing"][workload][system])
        groups = [done] if args.quick else [[w] for w in done]
        tasks += [(system, group) for group in groups if group]
    log(f"peak memory: {len(tasks)} subprocesses")

    def measure_group(task: tuple[str, list[str]]) -> None:
        system, group = task
        worker_args = ["memory", system, "{workloads}", "{events}"] + (["--quick"] if args.quick else [])
        outcome = run_worker(
            worker_args, group, args.limits, env=measure.MALLOC_ENV, python=args.python.get(system)
        )
        for workload in group:
            memory[workload][system] = outcome.records.get(
                workload, {"status": "error", "message": outcome.unavailable}
            )

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        list(pool.map(measure_group, tasks))


def run_scaling(args: argparse.Namespace, results: dict[str, Any]) -> None:
    """Generate scalar-MLP specs of about each size, then load + check + compile each in a fresh process."""
    results["scaling"] = []
    with tempfile.TemporaryDirectory(prefix="graphdiff-scaling-") as folder:
        for target in args.scaling_sizes:
            points = max(1, round(target / SCALAR_MLP_NODES_PER_POINT))
            log(f"load + check + compile: generating a spec of {points * SCALAR_MLP_NODES_PER_POINT:,} nodes")
            data = make_data("scalar_mlp", args.quick, points=points)
            path, _, _ = specs.scalar_mlp(Path(folder) / str(target), data, name=f"scaling_{target}")
            outcome = run_worker(["scaling", str(path), "{events}"], [path.name], args.scaling_limits)
            record = outcome.records.get(path.name, {"status": "error", "message": outcome.unavailable})
            results["scaling"].append({"target": target, **record})
            log(f"  {target:,}: {record['status']} {record.get('message', '')}")
            path.unlink()
            if record["status"] != "ok":
                break  # larger sizes would fail too


def run_startup(args: argparse.Namespace, results: dict[str, Any]) -> None:
    """``graphdiff grad`` on the circuit's spec as a whole process, next to ``python -c pass``,
    ``python -c "import numpy"`` and, when torch is among the systems and installed, ``python -c "import
    torch"`` in torch's interpreter (``--python torch=...``, else this one)."""
    torch_python = None
    if "torch" in args.systems and not SYSTEMS["torch"].missing(args.python.get("torch")):
        torch_python = args.python.get("torch", sys.executable)
    with tempfile.TemporaryDirectory(prefix="graphdiff-startup-") as folder:
        spec, _, _ = specs.circuit(Path(folder), make_data("circuit", args.quick))
        rows = startup.commands(spec, torch_python)
        log(f"start-up: {args.startup_runs} runs each of {'; '.join(row['label'] for row in rows)}")
        records = startup.measure(rows, args.startup_runs)
    results["startup"] = {"runs": args.startup_runs, "records": records}
    for record in records:
        outcome = report.fmt_time(record["median_s"]) if record["status"] == "ok" else record["message"]
        log(f"  {record['label']}: {outcome}")


def failures(results: dict[str, Any]) -> list[str]:
    found = []
    for workload, by_system in results["timing"].items():
        for system, record in by_system.items():
            if record["status"] == "ok" and not record["check"]["ok"]:
                for problem in record["check"]["problems"]:
                    found.append(f"DISAGREES: {system} on {workload}: {problem}")
            elif record["status"] in ("error", "crashed"):
                found.append(f"{record['status'].upper()}: {system} on {workload}: {record.get('message')}")
    for record in results.get("scaling", []):
        if record["status"] in ("error", "crashed"):
            found.append(f"{record['status'].upper()}: load + check + compile of {record['target']:,} nodes")
    for record in results.get("startup", {}).get("records", []):
        if record["status"] != "ok":
            found.append(f"ERROR: start-up of {record['label']}: {record.get('message')}")
    return found


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results: dict[str, Any] = {
        "quick": args.quick,
        "systems": args.systems,
        "machine": measure.machine(),
        "threads": args.threads,
        "malloc": "default" if args.default_malloc else "pinned",
        "pythons": args.python,
        "rounds": args.rounds,
        "versions": {},
        "skipped": {},
        "memory": {},
        "scaling": [],
        "startup": {},
    }
    run_timing(args, results)
    if not args.no_memory:
        run_memory(args, results)
    if args.scaling_sizes:
        if "graphdiff" in results["versions"]:
            run_scaling(args, results)
        else:
            log("load + check + compile: skipped (graphdiff is not among the systems run)")
    if args.startup_runs:
        if "graphdiff" in results["versions"]:
            run_startup(args, results)
        else:
            log("start-up: skipped (graphdiff is not among the systems run)")
    text = report.markdown(results)
    print(text, end="")
    if args.markdown_out:
        with open(args.markdown_out, "w") as out:
            out.write(text)
    if args.json_out:
        with open(args.json_out, "w") as out:
            json.dump(results, out, indent=1)
    problems = failures(results)
    for problem in problems:
        log(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
