"""The benchmark suite's smoke test: ``benchmarks/run.py --quick`` with hand-written numpy and graphdiff.

It checks that the runner works end to end and that graphdiff agrees with hand-written numpy on every
workload's loss and gradients. It asserts nothing about speed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKLOADS = ("circuit", "scalar_mlp", "two_layer", "svm", "chain", "cnn", "mlp_tensor")


def test_quick_benchmark_runs_and_every_workload_agrees(tmp_path):
    results_path, markdown_path = tmp_path / "results.json", tmp_path / "bench.md"
    command = [
        sys.executable,
        str(ROOT / "benchmarks" / "run.py"),
        "--quick",
        "--systems",
        "numpy,graphdiff",
        "--json-out",
        str(results_path),
        "--markdown-out",
        str(markdown_path),
        "--startup-runs",
        "1",
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr

    results = json.loads(results_path.read_text())
    assert list(results["timing"]) == list(WORKLOADS)
    for workload in WORKLOADS:
        for system in ("numpy", "graphdiff"):
            record = results["timing"][workload][system]
            assert record["status"] == "ok", (workload, system, record)
            assert record["check"]["ok"], (workload, system, record["check"]["problems"])
            assert record["median_s"] > 0
            memory = results["memory"][workload][system]
            assert memory["status"] == "ok", (workload, system, memory)
    assert results["timing"]["scalar_mlp"]["graphdiff"]["info"]["nodes"] == 5 * 643
    assert [r["status"] for r in results["scaling"]] == ["ok", "ok"]
    startup = {r["key"]: r for r in results["startup"]["records"]}
    assert set(startup) == {"graphdiff_grad", "python_numpy", "python_pass"}  # torch not among the systems
    assert all(r["status"] == "ok" and r["median_s"] > 0 for r in startup.values()), startup

    table = done.stdout
    assert markdown_path.read_text() == table
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    for workload in WORKLOADS:
        for system in ("numpy", "graphdiff"):
            (row,) = [r for r in rows if r.startswith(f"| {workload} | {system} |")]
            assert "| agrees (" in row, row
    assert "**DISAGREES**" not in table
    for heading in ("## Targets", "## Forward + backward", "## Peak memory", "## Load + check + compile"):
        assert heading in table
    assert "## Start-up of a `graphdiff grad` process" in table
    targets = table[table.index("## Targets") : table.index("## Forward + backward")]
    (row,) = [r for r in targets.splitlines() if r.startswith("| tensor MLP: graphdiff ÷ numpy by hand |")]
    assert row.endswith(("| met |", "| **missed** |")), row
    (row,) = [r for r in targets.splitlines() if r.startswith("| circuit: graphdiff ÷ micrograd |")]
    assert row.endswith("| not measured |"), row  # micrograd was not run


def test_help_has_examples():
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    assert "python benchmarks/run.py --quick" in done.stdout
