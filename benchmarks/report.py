"""The markdown report: times, peak memory, load + check + compile scaling, and how each was measured."""

from __future__ import annotations

import math
import textwrap
from typing import Any

from check import ATOL, RTOL
from systems import SYSTEMS
from workloads import describe

#: The issue's targets.
LOAD_TARGET_PER_10X = 12.0
MEMORY_TARGET = 1.1


def fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.3g} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds:.3g} s"


def fmt_bytes(n: float | None) -> str:
    if n is None:
        return "—"
    if n < 1024 * 1024:
        return f"{n / 1024:.3g} KiB"
    if n < 1024**3:
        return f"{n / 1024**2:.3g} MiB"
    return f"{n / 1024**3:.3g} GiB"


def fmt_ratio(r: float) -> str:
    return f"{r:,.0f}×" if r >= 100 else f"{r:.2g}×"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _status(record: dict[str, Any] | None, system: str) -> str:
    """A cell for a record that has no time."""
    if record is None:
        return "—"
    status = record["status"]
    if status == "timeout":
        building = record.get("phase") == "setup"
        return ("cannot compile" if system == "jax" else "too slow to build") if building else "timed out"
    return {"skipped": "not installed"}.get(status, status)


def _median(record: dict[str, Any] | None) -> float | None:
    if record and record["status"] == "ok":
        return record["median_s"]
    return None


def time_table(results: dict[str, Any]) -> list[str]:
    systems, quick = results["systems"], results["quick"]
    header = ["workload"] + [SYSTEMS[s].label for s in systems]
    rows = []
    for workload, by_system in results["timing"].items():
        base, torch = _median(by_system.get("numpy")), _median(by_system.get("torch"))
        row = [describe(workload, quick)]
        for system in systems:
            record = by_system.get(system)
            median = _median(record)
            if median is None:
                row.append(_status(record, system))
                continue
            cell = fmt_time(median)
            ratios = []
            if base and system != "numpy":
                ratios.append(f"{fmt_ratio(median / base)} np")
            if torch and system not in ("numpy", "torch"):
                ratios.append(f"{fmt_ratio(median / torch)} pt")
            if ratios:
                cell += " (" + ", ".join(ratios) + ")"
            if not record["check"]["ok"]:
                cell = f"**DISAGREES** {cell}"
            row.append(cell)
        rows.append(row)
    return _table(header, rows)


def details_table(results: dict[str, Any]) -> list[str]:
    rows = []
    for workload, by_system in results["timing"].items():
        for system, record in by_system.items():
            if record["status"] in ("n/a", "skipped"):
                continue
            if record["status"] != "ok":
                message = " / ".join(str(record.get("message", "")).splitlines())  # one table row
                rows.append([workload, system, "", "", "", "", record["status"], message])
                continue
            check = record["check"]
            worst = max(check["max_abs_error"].values(), default=0.0)
            agreement = f"agrees (max abs error {worst:.1g})" if check["ok"] else "DISAGREES"
            rows.append(
                [
                    workload,
                    system,
                    fmt_time(record["median_s"]),
                    fmt_time(record["min_s"]),
                    f"{record['runs']:,}"
                    + (f" in {record['rounds']} rounds" if record.get("rounds", 1) > 1 else ""),
                    fmt_time(record["setup_s"]),
                    agreement,
                    "; ".join([_info(record.get("info", {})), _faults(record)] + check["problems"]).strip(
                        "; "
                    ),
                ]
            )
    header = ["workload", "system", "median", "min", "runs", "build", "agreement", "notes"]
    return _table(header, rows)


def _faults(record: dict[str, Any]) -> str:
    """Page faults a run, when there are any to speak of (runs of earlier results have none recorded)."""
    faults = record.get("page_faults_per_run")
    return f"{faults:,.0f} page faults a run" if faults is not None and faults >= 1 else ""


def _info(info: dict[str, Any]) -> str:
    parts = []
    if "nodes" in info:
        parts.append(f"{info['nodes']:,} nodes, {info['leaves']:,} leaves")
    if "load_check_s" in info:
        parts.append(f"load + check {fmt_time(info['load_check_s'])}, compile {fmt_time(info['compile_s'])}")
    if "jit_compile_s" in info:
        parts.append(f"jit compile {fmt_time(info['jit_compile_s'])}")
    return "; ".join(parts)


def memory_table(results: dict[str, Any]) -> list[str]:
    systems, quick = results["systems"], results["quick"]
    rows = []
    for workload, by_system in results["memory"].items():
        row = [describe(workload, quick)]
        for system in systems:
            record = by_system.get(system)
            if record is None or record["status"] != "ok":
                row.append(_status(record, system))
                continue
            cell = fmt_bytes(record["rss_growth_bytes"])
            if record.get("traced_peak_bytes") is not None:
                cell += f" (traced {fmt_bytes(record['traced_peak_bytes'])})"
            row.append(cell)
        rows.append(row)
    return _table(["workload"] + [SYSTEMS[s].label for s in systems], rows)


def memory_target_line(results: dict[str, Any]) -> str | None:
    by_system = results["memory"].get("two_layer", {})
    ours, base = by_system.get("graphdiff"), by_system.get("numpy")
    if not (ours and base and ours["status"] == base["status"] == "ok"):
        return None
    parts = []
    for key, what in (("traced_peak_bytes", "tracemalloc peak"), ("rss_growth_bytes", "RSS growth")):
        if ours.get(key) and base.get(key):
            parts.append(f"{ours[key] / base[key]:.2f}× by {what}")
    traced = ours.get("traced_peak_bytes"), base.get("traced_peak_bytes")
    verdict = ""
    if all(traced):
        met = traced[0] / traced[1] <= MEMORY_TARGET
        verdict = f" Target ≤ {MEMORY_TARGET}× (tracemalloc): {'met' if met else 'not met'}."
    return (
        "Two-layer net, graphdiff's forward + backward peak over hand-written numpy's: "
        + ", ".join(parts)
        + "."
        + verdict
    )


def scaling_table(results: dict[str, Any]) -> list[str]:
    rows = []
    previous = None
    for record in results["scaling"]:
        if record["status"] != "ok":
            rows.append(
                [
                    f"{record['target']:,}",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    f"{record['status']}: {record.get('message', '')}",
                ]
            )
            continue
        total = record["load_check_s"] + record["compile_s"]
        step = "—"
        if previous is not None:
            ratio = total / previous[1]
            per_10x = ratio ** (1 / math.log10(record["nodes"] / previous[0]))
            verdict = "ok" if per_10x <= LOAD_TARGET_PER_10X else "over target"
            step = f"{fmt_ratio(ratio)}; {per_10x:.1f}× per 10× ({verdict})"
        previous = (record["nodes"], total)
        rows.append(
            [
                f"{record['target']:,}",
                f"{record['nodes']:,} nodes, {record['leaves']:,} leaves",
                fmt_time(record["load_check_s"]),
                fmt_time(record["compile_s"]),
                fmt_time(total),
                step,
                fmt_bytes(record["peak_rss_bytes"]),
                "ok",
            ]
        )
    header = ["size", "spec", "load + check", "compile", "total", "vs previous size", "peak RSS", "status"]
    return _table(header, rows)


def header_lines(results: dict[str, Any]) -> list[str]:
    m = results["machine"]
    versions = ", ".join(f"{SYSTEMS[s].label.split(' ')[0]} {v}" for s, v in results["versions"].items())
    lines = [
        f"# graphdiff benchmarks ({'quick' if results['quick'] else 'full'} mode)",
        "",
        f"{m['cpu']}, {m['cores']} cores, {m['system']}; Python {m['python']}; {versions}; {m['date']}.",
    ]
    threads = results.get("threads")
    lines.append(
        f"Threads: {threads} for every library (--threads)."
        if threads
        else "Threads: each library's default (BLAS, torch and XLA may use every core)."
    )
    for system, python in results.get("pythons", {}).items():
        lines.append(f"{SYSTEMS[system].label.split(' ')[0]} ran in {python} (--python).")
    for system, reason in results["skipped"].items():
        lines.append(f"Skipped {system}: {reason}.")
    return lines


def _malloc_note(results: dict[str, Any]) -> str:
    if results.get("malloc") == "default":
        return (
            " The timing subprocesses ran with glibc's default, adaptive malloc settings"
            " (`--default-malloc`): the details give the page faults a run this costs."
        )
    return (
        " Every system's timing subprocess runs with the same glibc malloc settings"
        " (`MALLOC_MMAP_THRESHOLD_=32MiB`, `MALLOC_TRIM_THRESHOLD_=1GiB`): memory one run frees is"
        " reused by the next instead of being given back to the system. With the adaptive defaults"
        " (`--default-malloc`), whether a run's few MiB of temporaries are given back and faulted in"
        " again next run (hundreds of page faults a run, microseconds each on a VM) depends on where"
        " they land, so the same code times as one of two figures up to 2x apart from one process to"
        " the next; the details give the page faults a run."
    )


def notes(results: dict[str, Any]) -> str:
    rounds = results.get("rounds", 1)
    split = (
        f" The runs are split over {rounds} rounds (`--rounds`): every system runs once a round, one after"
        " another, and its samples from all rounds are pooled, so a change in the machine's load falls on"
        " every system alike."
        if rounds > 1
        else ""
    )
    where = (
        "fresh subprocesses, one per system and workload"
        if not results["quick"]
        else "one subprocess per system"
    )
    items = [
        "**Times** are one forward + backward pass (the loss and its gradient with respect to every"
        " parameter), float64, each system in its own subprocess: a warm-up (up to 3 runs or 0.2 s), then"
        " repeated runs until about 1 s has passed (at least 5; 3 for runs of seconds); the median (and, in"
        " the details, the minimum) per run (quick mode: small sizes and about 0.03 s each). Runs under"
        " 0.2 ms are timed in batches." + split + " Ratios"
        " are to hand-written numpy (np) and to PyTorch (pt); lower is faster. The build is not timed:"
        " graphdiff's spec is loaded (read + check) and compiled first, and only `plan.forward` +"
        " `plan.backward(wrt=parameters)` are timed; JAX is compiled by its first call; PyTorch,"
        " micrograd and autograd build their graph anew in every run." + _malloc_note(results),
        f"**Agreement**: before timing, each system's loss and every parameter gradient are compared with"
        f" hand-written numpy's (rtol {RTOL:g}, atol {ATOL:g}); a system that disagrees is marked"
        f" DISAGREES and the runner exits with status 1.",
        f"**Peak memory** of one forward + backward, measured in {where}, with glibc's mmap threshold"
        " pinned (`MALLOC_MMAP_THRESHOLD_`) so that arrays freed by one run go back to the system: after"
        " two warm-up runs the RSS high-water mark is reset (`/proc/self/clear_refs`) and the table gives"
        " its growth over the RSS just before one more run (page- and arena-grained: growth under a few"
        ' hundred KiB means little). "traced" is tracemalloc\'s peak during a further run: every numpy'
        " array and Python object the run allocates, exactly (not for PyTorch and JAX, whose allocators it"
        " does not see). Both include the gradients returned and the values kept for the backward pass, not"
        " the inputs and parameters.",
        "**Load + check + compile**: generated specs (the scalar MLP with as many points as the size"
        " needs, 643 nodes a point, one scalar parameter leaf per weight), each loaded in a fresh"
        " subprocess with `gd.load` (read, parse, check) and then compiled (`graph.plan`). The ratio per"
        f" 10× is normalised to exactly 10× more nodes (target ≤ {LOAD_TARGET_PER_10X:g}×); the peak RSS is"
        " the process's, imports included.",
        '"cannot compile": the build (for JAX the trace and the XLA compile) was stopped at the time limit'
        ' (`--setup-timeout`); "n/a": the system cannot express the workload (micrograd has only scalars)'
        " or has no implementation of it (the CNN: hand-written numpy, graphdiff, PyTorch and JAX).",
    ]
    return "How this was measured:\n\n" + "\n".join(
        "- " + textwrap.fill(item, 108, subsequent_indent="  ", break_on_hyphens=False) for item in items
    )


def markdown(results: dict[str, Any]) -> str:
    lines = header_lines(results)
    lines += ["", "## Forward + backward, median time", ""] + time_table(results)
    lines += ["", "### Details", ""] + details_table(results)
    if results["memory"]:
        lines += ["", "## Peak memory of one forward + backward", ""] + memory_table(results)
        target = memory_target_line(results)
        if target:
            lines += ["", target]
    if results["scaling"]:
        lines += ["", "## Load + check + compile of generated specs", ""] + scaling_table(results)
    lines += ["", notes(results)]
    return "\n".join(lines) + "\n"
