"""Start-up: importing graphdiff, and ``graphdiff validate/plan/run/grad`` on a small spec, import neither the
heavy optional libraries (scipy, matplotlib, Graphviz's bindings, Starlette, uvicorn, onnx, tqdm) nor the
subpackages that need them (render, optimize, serve, onnxio), and the lazily imported names still work.

Each check runs in a fresh interpreter (this one has imported everything by now) and compares module sets,
never times: which modules a command imports is what decides how fast it starts, and it does not depend on
how loaded the machine is.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CIRCUIT = ROOT / "examples" / "cs231n_circuit.json"

#: What a small spec's validate, plan, run or grad must not import (a name and everything under it).
HEAVY = (
    "networkx",  # only for a spec whose nodes come before their inputs (see the test below)
    "scipy",
    "matplotlib",
    "graphviz",
    "starlette",
    "uvicorn",
    "onnx",
    "onnxruntime",
    "tqdm",
    "sklearn",
    "graphdiff.render",
    "graphdiff.optimize",
    "graphdiff.serve",
    "graphdiff.onnxio",
)

#: Prints, as the last line of stdout, the exit code and the modules imported (as JSON).
REPORT = "print(json.dumps({'code': code, 'modules': sorted(sys.modules)}))"

#: The console script's entry point (graphdiff_launcher.main, pyproject's [project.scripts]) on argv.
LAUNCHER = f"""
import json, sys
sys.argv = ['graphdiff', *sys.argv[1:]]
from graphdiff_launcher import main
code = main()
{REPORT}
"""

#: ``python -m graphdiff`` on argv, through runpy as Python runs it.
MODULE = f"""
import json, runpy, sys
sys.argv = ['graphdiff', *sys.argv[1:]]
try:
    runpy.run_module('graphdiff', run_name='__main__', alter_sys=True)
except SystemExit as exit:
    code = exit.code
{REPORT}
"""


def heavy_in(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == h or m.startswith(f"{h}.") for h in HEAVY)]


def run_python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done


def report_of(done: subprocess.CompletedProcess[str]) -> dict:
    return json.loads(done.stdout.splitlines()[-1])


def test_importing_graphdiff_and_building_the_parser_imports_nothing_heavy():
    code = (
        """
import json, sys
import graphdiff, graphdiff.cli
graphdiff.cli.build_parser()  # every command's options: the parser of any command line
code = 0
"""
        + REPORT
    )
    modules = report_of(run_python(code))["modules"]
    assert heavy_in(modules) == []
    assert {"graphdiff.api", "graphdiff.cli.graph_commands", "graphdiff.cli.lab_commands"} <= set(modules)


@pytest.mark.parametrize(
    "entry, command",
    [
        (LAUNCHER, "validate"),
        (LAUNCHER, "plan"),
        (LAUNCHER, "run"),
        (LAUNCHER, "grad"),
        (MODULE, "grad"),
    ],
    ids=["launcher-validate", "launcher-plan", "launcher-run", "launcher-grad", "python-m-grad"],
)
def test_a_small_command_imports_nothing_heavy(entry, command):
    done = run_python(entry, command, str(CIRCUIT))
    report = report_of(done)
    assert report["code"] == 0, done.stderr
    assert heavy_in(report["modules"]) == []
    if command == "grad":
        assert done.stdout.splitlines()[1].split() == ["x", "input", "scalar", "-2", "-4"]


def test_the_lazy_names_work_and_are_listed():
    code = """
import sys, types
import graphdiff as gd
assert set(gd.__all__) <= set(dir(gd)), set(gd.__all__) - set(dir(gd))
assert not [m for m in sys.modules if m.startswith(("graphdiff.render", "graphdiff.optimize"))]
from graphdiff.render import build_diagram  # the subpackage first: gd.render must stay the function
assert isinstance(gd.render, types.FunctionType), gd.render
assert gd.render is sys.modules["graphdiff.render"].render
from graphdiff import render_steps, from_onnx, to_onnx
assert render_steps is sys.modules["graphdiff.render"].render_steps
assert (from_onnx, to_onnx) == (gd.from_onnx, gd.to_onnx)
assert gd.optimize is sys.modules["graphdiff.optimize"] and callable(gd.optimize.train)
try:
    gd.no_such_name
except AttributeError as exc:
    assert "no_such_name" in str(exc)
else:
    raise AssertionError("gd.no_such_name did not raise AttributeError")
graph = gd.load(sys.argv[1])
print(type(gd.render(graph, graph.run())).__name__)
"""
    assert run_python(code, str(CIRCUIT)).stdout.split() == ["Digraph"]


def test_scipy_is_imported_by_the_ops_that_use_it_only():
    """scipy.special is sigmoid's expit and the exact gelu's erfc; a graph without them never imports it."""
    code = """
import math, sys
import graphdiff as gd
graph = gd.Graph("activations")
x = graph.input("x", value=[-1.0, 0.5])
graph.set_loss(gd.relu(gd.tanh(x)).sum())
graph.run()
assert "scipy" not in sys.modules
exact = gd.gelu(x)
graph.set_loss(exact.sum())
result = graph.run()
assert "scipy.special" in sys.modules
cdf = [(1 + math.erf(v / math.sqrt(2))) / 2 for v in (-1.0, 0.5)]
pdf = [math.exp(-v * v / 2) / math.sqrt(2 * math.pi) for v in (-1.0, 0.5)]
assert abs(result.value(exact.id) - [-1.0 * cdf[0], 0.5 * cdf[1]]).max() < 1e-15
assert abs(result.grad("x") - [cdf[0] - pdf[0], cdf[1] + 0.5 * pdf[1]]).max() < 1e-15
"""
    run_python(code)


def test_a_spec_out_of_file_order_is_sorted_by_networkx(tmp_path):
    spec = json.loads(CIRCUIT.read_text())
    spec["nodes"].reverse()  # f = q * z comes before q = x + y
    path = tmp_path / "reversed.json"
    path.write_text(json.dumps(spec))
    report = report_of(run_python(LAUNCHER, "grad", str(path)))
    assert report["code"] == 0 and "networkx" in report["modules"]

