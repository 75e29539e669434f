"""The markdown report: the targets met or missed, times, peak memory, load + check + compile scaling,
start-up, and how each was measured."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import startup
from check import ATOL, RTOL
from systems import SYSTEMS
from workloads import describe

#: A measured figure (None: not measured) and how the report states it.
Figure = tuple[float | None, str]


@dataclass(frozen=True)
class Target:
    #: What is measured, as the targets table names it.
    what: str
    #: The figure must be at most this.
    limit: float
    #: How the limit and the figure read: "×" (a ratio), "s" (seconds) or "B" (bytes).
    unit: str
    #: The figure, from the results.
    measure: Callable[[dict[str, Any]], Figure]

    def limit_text(self) -> str:
        if self.unit == "s":
            return f"≤ {fmt_time(self.limit)}"
        if self.unit == "B":
            return f"≤ {fmt_bytes(self.limit)}"
        return f"≤ {self.limit:g}×"

    def verdict(self, value: float | None) -> str:
        if value is None:
            return "not measured"
        return "met" if value <= self.limit else "**missed**"


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


def startup_table(results: dict[str, Any]) -> list[str]:
    records = results["startup"]["records"]
    by_key = {r["key"]: r for r in records if r["status"] == "ok"}
    ours, bare = by_key.get(startup.GRAPHDIFF), by_key.get(startup.BARE_PYTHON)
    rows = []
    for record in records:
        command = f"`{record['label']}`" + (f" ({record['python']})" if record.get("python") else "")
        if record["status"] != "ok":
            rows.append([command, "", "", "", "", "", f"{record['status']}: {record.get('message', '')}"])
            continue
        median = record["median_s"]
        over = f"+{fmt_time(median - bare['median_s'])}" if bare and record is not bare else "—"
        times_bare = fmt_ratio(median / bare["median_s"]) if bare else "—"
        ours_over = fmt_ratio(ours["median_s"] / median) if ours and record is not ours else "—"
        rows.append([command, fmt_time(median), fmt_time(record["min_s"]), over, times_bare, ours_over, "ok"])
    header = [
        "command",
        "median",
        "min",
        "over `python -c pass`",
        "× `python -c pass`",
        "graphdiff grad ÷ this",
        "status",
    ]
    return _table(header, rows)


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
        target = TARGETS["two_layer_memory"]
        verdict = f" Target {target.limit_text()} (tracemalloc): {target.verdict(traced[0] / traced[1])}."
    return (
        "Two-layer net, graphdiff's forward + backward peak over hand-written numpy's: "
        + ", ".join(parts)
        + "."
        + verdict
    )


def scaling_steps(results: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any], float, float]]:
    """Each measured size after the first, with the one before it, the ratio of their load + check +
    compile times and that ratio normalised to exactly 10× more nodes."""
    steps, previous = [], None
    for record in results["scaling"]:
        if record["status"] != "ok":
            continue
        if previous is not None:
            ratio = _scaling_total(record) / _scaling_total(previous)
            steps.append(
                (previous, record, ratio, ratio ** (1 / math.log10(record["nodes"] / previous["nodes"])))
            )
        previous = record
    return steps


def _scaling_total(record: dict[str, Any]) -> float:
    return record["load_check_s"] + record["compile_s"]


def scaling_table(results: dict[str, Any]) -> list[str]:
    target = TARGETS["load_per_10x"]
    steps = {id(record): (ratio, per_10x) for _, record, ratio, per_10x in scaling_steps(results)}
    rows = []
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
        total = _scaling_total(record)
        step = "—"
        if id(record) in steps:
            ratio, per_10x = steps[id(record)]
            verdict = "ok" if per_10x <= target.limit else "over target"
            step = f"{fmt_ratio(ratio)}; {per_10x:.1f}× per 10× ({verdict})"
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


# --- the targets ------------------------------------------------------------------------------------


def _time_ratio(workload: str, reference: str) -> Callable[[dict[str, Any]], Figure]:
    """graphdiff's median time on ``workload`` over ``reference``'s."""

    def figure(results: dict[str, Any]) -> Figure:
        by_system = results["timing"].get(workload)
        if by_system is None:
            return None, "workload not run (--workloads)"
        ours, base = by_system.get("graphdiff"), by_system.get(reference)
        for system, record in (("graphdiff", ours), (reference, base)):
            if record is None:
                return None, f"{system} not run (--systems)"
            if _median(record) is None:
                return None, f"{system}: {_status(record, system)}"
        if not (ours["check"]["ok"] and base["check"]["ok"]):
            return None, "DISAGREES with hand-written numpy"
        ratio = ours["median_s"] / base["median_s"]
        label = SYSTEMS[reference].label
        times = f"graphdiff {fmt_time(ours['median_s'])}, {label} {fmt_time(base['median_s'])}"
        return ratio, f"{fmt_ratio(ratio)} ({times})"

    return figure


def _load_per_10x(results: dict[str, Any]) -> Figure:
    """The worst step between consecutive sizes; not measured if a size did not finish (the runner stops
    at the first that does not)."""
    steps = scaling_steps(results)
    parts = [f"{per_10x:.1f}× from {a['nodes']:,} to {b['nodes']:,} nodes" for a, b, _, per_10x in steps]
    failed = [r for r in results["scaling"] if r["status"] != "ok"]
    if failed:
        parts.append(f"{failed[0]['target']:,}: {failed[0]['status']}, so the step to it is not known")
        return None, "; ".join(parts)
    if not steps:
        return None, "fewer than two sizes measured (--scaling-sizes)"
    return max(per_10x for *_, per_10x in steps), "; ".join(parts)


#: The size whose peak RSS the 1 GiB target is for.
MILLION = 1_000_000


def _million_rss(results: dict[str, Any]) -> Figure:
    records = [r for r in results["scaling"] if r["target"] >= MILLION]
    if not records:
        largest = max((r["target"] for r in results["scaling"]), default=None)
        runs = f" (the largest run: {largest:,})" if largest else ""
        return None, f"no size of {MILLION:,} nodes run{runs}"
    record = records[0]
    if record["status"] != "ok":
        return None, f"{record['target']:,}: {record['status']}, no peak measured"
    peak = record["peak_rss_bytes"]
    return peak, f"{fmt_bytes(peak)} ({record['nodes']:,} nodes, imports included)"


def _startup(results: dict[str, Any]) -> Figure:
    records = {r["key"]: r for r in results.get("startup", {}).get("records", [])}
    ours, bare = records.get(startup.GRAPHDIFF), records.get(startup.BARE_PYTHON)
    if ours is None:
        return None, "not run (--startup-runs)"
    if ours["status"] != "ok":
        return None, f"{ours['status']}: {ours.get('message', '')}"
    text = f"{fmt_time(ours['median_s'])} (`{ours['label']}`"
    if bare and bare["status"] == "ok":
        ratio = fmt_ratio(ours["median_s"] / bare["median_s"])
        text += f"; {ratio} `python -c pass`, {fmt_time(bare['median_s'])}"
    return ours["median_s"], text + ")"


def _two_layer_memory(results: dict[str, Any]) -> Figure:
    by_system = results["memory"].get("two_layer", {})
    ours, base = by_system.get("graphdiff"), by_system.get("numpy")
    if not (ours and base and ours["status"] == base["status"] == "ok"):
        return None, "not measured (--no-memory, or the two-layer net not run)"
    traced = ours.get("traced_peak_bytes"), base.get("traced_peak_bytes")
    if not all(traced):
        return None, "no tracemalloc peak"
    ratio = traced[0] / traced[1]
    sizes = f"graphdiff {fmt_bytes(traced[0])}, {SYSTEMS['numpy'].label} {fmt_bytes(traced[1])}"
    return ratio, f"{ratio:.2f}× ({sizes}; tracemalloc peak)"


#: The targets, the only place they are set: the targets table, the scaling table's verdicts and the
#: memory line all read them from here.
TARGETS: dict[str, Target] = {
    "circuit": Target("circuit: graphdiff ÷ micrograd", 1.0, "×", _time_ratio("circuit", "micrograd")),
    "chain": Target("deep chain: graphdiff ÷ numpy by hand", 1.3, "×", _time_ratio("chain", "numpy")),
    "scalar_mlp": Target(
        "scalar MLP: graphdiff ÷ numpy by hand", 3.0, "×", _time_ratio("scalar_mlp", "numpy")
    ),
    "mlp_tensor": Target(
        "tensor MLP: graphdiff ÷ numpy by hand", 1.3, "×", _time_ratio("mlp_tensor", "numpy")
    ),
    "load_per_10x": Target("load + check + compile: time per 10× nodes", 11.0, "×", _load_per_10x),
    "load_rss": Target("load + check + compile: peak RSS at 1M nodes", 1024**3, "B", _million_rss),
    "startup": Target("start-up: `graphdiff grad` of the circuit, wall time", 0.2, "s", _startup),
    "two_layer_memory": Target(
        "two-layer net: graphdiff's peak memory ÷ numpy by hand's", 1.1, "×", _two_layer_memory
    ),
}


def targets_table(results: dict[str, Any]) -> list[str]:
    rows = []
    for target in TARGETS.values():
        value, text = target.measure(results)
        rows.append([target.what, target.limit_text(), text, target.verdict(value)])
    return _table(["target", "limit", "measured", "verdict"], rows)


def targets_notes(results: dict[str, Any]) -> list[str]:
    """Paragraphs under the targets table: what its verdicts are worth here."""
    notes = []
    if results["quick"]:
        notes.append(
            "Quick mode: the workloads are small and the runs few, not the sizes the targets are set for;"
            " these verdicts show only that every figure is computed."
        )
    bare = {r["key"]: r for r in results.get("startup", {}).get("records", [])}.get(startup.BARE_PYTHON)
    if bare and bare["status"] == "ok":
        notes.append(
            f"The start-up target ({TARGETS['startup'].limit_text()}) is a wall time on the issue's machine;"
            f" on this one `python -c pass` alone takes {fmt_time(bare['median_s'])}, so the ratio to it"
            " (the start-up table) carries over better than the seconds."
        )
    return [line for note in notes for line in ("", textwrap.fill(note, 108, break_on_hyphens=False))]


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
        f" 10× is normalised to exactly 10× more nodes (target {TARGETS['load_per_10x'].limit_text()});"
        f" the peak RSS is the process's, imports included (target at 1M nodes"
        f" {TARGETS['load_rss'].limit_text()}).",
        "**Start-up**: each command a fresh process, timed from outside (wall time, from start to exit):"
        " one untimed run each first, then the commands in turns, the median and minimum of each one's"
        " runs (`--startup-runs`). `graphdiff grad` is the console script next to this Python (else"
        " `python -m graphdiff`) on the circuit's spec, printing every gradient; `import torch` runs in"
        " torch's interpreter.",
        '"cannot compile": the build (for JAX the trace and the XLA compile) was stopped at the time limit'
        ' (`--setup-timeout`); "n/a": the system cannot express the workload (micrograd has only scalars)'
        " or has no implementation of it (the CNN: hand-written numpy, graphdiff, PyTorch and JAX).",
    ]
    return "How this was measured:\n\n" + "\n".join(
        "- " + textwrap.fill(item, 108, subsequent_indent="  ", break_on_hyphens=False) for item in items
    )


def markdown(results: dict[str, Any]) -> str:
    lines = header_lines(results)
    lines += ["", "## Targets", ""] + targets_table(results) + targets_notes(results)
    lines += ["", "## Forward + backward, median time", ""] + time_table(results)
    lines += ["", "### Details", ""] + details_table(results)
    if results["memory"]:
        lines += ["", "## Peak memory of one forward + backward", ""] + memory_table(results)
        target = memory_target_line(results)
        if target:
            lines += ["", target]
    if results["scaling"]:
        lines += ["", "## Load + check + compile of generated specs", ""] + scaling_table(results)
    if results.get("startup"):
        lines += ["", "## Start-up of a `graphdiff grad` process", ""] + startup_table(results)
    lines += ["", notes(results)]
    return "\n".join(lines) + "\n"
