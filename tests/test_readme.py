"""The README is the first thing a newcomer runs: its commands, its claims and its pictures are checked."""

from __future__ import annotations

import os
import re
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import run_cli

import graphdiff as gd

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def code_blocks(text: str) -> list[str]:
    """The shell blocks (bash, console or unmarked), in order; every fence is matched, so a Python block's
    closing fence never opens a block."""
    fenced = re.findall(r"^```(\w*)\n(.*?)^```", text, flags=re.S | re.M)
    return [block.strip() for lang, block in fenced if lang in ("bash", "console", "")]


def test_readme_opens_with_the_install_and_demo_command_then_the_test_command():
    first, second = code_blocks(README)[:2]
    assert first.endswith('pip install -e ".[dev]" && graphdiff demo')
    assert "apt-get install -y graphviz" in first  # the system package the demo's pictures need
    assert second == "python -m pytest -n 2"
    assert README.index(first) < 400  # at the very top, before any explanation


def test_ci_runs_exactly_the_readme_test_command():
    test_command = code_blocks(README)[1]
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_command in ci_lines
    # diagrams are tested with the real dot, the steps page in a real browser
    assert 'apt-get install -y -qq "${missing[@]}" >/dev/null' in ci_lines
    for command, package in (("dot", "graphviz"), ("chromium", "chromium")):
        assert f"command -v {command} >/dev/null 2>&1 || missing+=({package})" in ci_lines


def test_readme_op_table_is_the_generated_one():
    """README's op table is `graphdiff ops --markdown` (made from the registry), so it lists every op."""
    from graphdiff.ops import catalog

    start, end = "<!-- op table: graphdiff ops --markdown -->\n", "<!-- end of op table -->"
    table = README.split(start)[1].split(end)[0]
    assert table == catalog.markdown_table(), "README's op table is stale: paste `graphdiff ops --markdown`"


def test_every_op_has_a_builder_function_in_the_public_api():
    for name, op in gd.OPS.items():
        assert callable(getattr(gd, name)), name
        assert name in gd.__all__, name
        assert op.signature() in getattr(gd, name).__doc__


def test_committed_circuit_diagram_shows_the_lecture_numbers():
    svg = (ROOT / "docs" / "cs231n_circuit.svg").read_text(encoding="utf-8")
    texts = {t.replace("&#45;", "-") for t in re.findall(r">([^<>]+)</text>", svg)}
    assert {"-2", "5", "-4", "3", "-12", "1"} <= texts
    assert "README.md" not in svg and "<svg" in svg


def test_every_picture_the_readme_shows_exists():
    for target in re.findall(r"\]\((docs/[^)]+)\)", README):
        assert (ROOT / target).is_file(), target


def test_optimization_lab_numbers_are_what_the_commands_give():
    """The lab section's printed figures (the sweep lines, the comparison table, the training summary)
    are those of the commands it shows, which are deterministic given their seeds."""
    pytest.importorskip("sklearn")
    from graphdiff import optimize

    lab = README.split("## Optimization lab")[1].split("\n## ")[0]
    train_data, val_data = optimize.digits().split(0.2, seed=0)
    svm = optimize.Objective(gd.load(ROOT / "examples" / "digits_svm.json"), train_data, val_data)

    sweep = optimize.step_size_sweep(svm, np.logspace(-6, 4, 11))
    shown = re.findall(r"^(for step size \S+ new loss: \S+)$", lab, flags=re.M)
    assert len(shown) >= 5 and set(shown) <= set(sweep.table().splitlines())
    assert f"best step size: {sweep.best_step_size:g}" in lab

    comparison = optimize.compare(svm, 1000, config=optimize.TrainConfig(lr=0.1))
    for outcome in comparison.outcomes:
        row = next(line for line in lab.splitlines() if line.startswith(f"| {outcome.strategy} "))
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert cells[2] == f"{outcome.final.loss:.4f}"
        assert cells[3:5] == [f"{outcome.final.accuracy:.1%}", f"{outcome.final_val.accuracy:.1%}"]

    spiral_train, spiral_val = optimize.spiral().split(0.2, seed=0)
    net = optimize.Objective(gd.load(ROOT / "examples" / "spiral_two_layer.json"), spiral_train, spiral_val)
    result = optimize.train(net, optimize.TrainConfig(steps=3000, lr=1.0))
    summary = (
        f"loss {result.final.loss:.6g}, training accuracy {result.final.accuracy:.1%}, "
        f"validation loss {result.final_val.loss:.6g}, validation accuracy {result.final_val.accuracy:.1%}"
    )
    assert summary in lab


def test_optimization_lab_python_example_runs():
    pytest.importorskip("sklearn")
    lab = README.split("## Optimization lab")[1].split("\n## ")[0]
    code = re.findall(r"```python\n(.*?)```", lab, flags=re.S)[0]
    namespace: dict = {}
    cwd = os.getcwd()
    os.chdir(ROOT)  # the example loads examples/digits_svm.json
    try:
        exec(compile(code, "README.md (optimization lab)", "exec"), namespace)
    finally:
        os.chdir(cwd)
    assert namespace["result"].final_val.accuracy > 0.9
    assert namespace["png"].startswith(b"\x89PNG")


def test_cnn_example_reaches_97_percent_through_the_cli(tmp_path, monkeypatch, capsys):
    """The README's CNN command, run as shown (from a copy of examples/), gives the accuracy it claims."""
    pytest.importorskip("sklearn")
    from graphdiff.cli import main

    lab = README.split("## Optimization lab")[1].split("\n## ")[0]
    (command,) = re.findall(r"^\$ (graphdiff train examples/digits_cnn\.json .*)$", lab, flags=re.M)
    shown = re.search(r"^after 2000 steps \([\d.]+ s\): (.*)$", lab, flags=re.M)
    (tmp_path / "examples").mkdir()
    example = (ROOT / "examples" / "digits_cnn.json").read_bytes()
    (tmp_path / "examples" / "digits_cnn.json").write_bytes(example)
    monkeypatch.chdir(tmp_path)

    assert main([*command.split()[1:], "--quiet"]) == 0
    out = capsys.readouterr().out
    summary = re.search(r"^after 2000 steps \([\d.]+ s\): (.*)$", out, flags=re.M)
    accuracy = float(re.search(r"validation accuracy ([\d.]+)%", summary.group(1)).group(1))
    assert accuracy >= 97.0, out
    assert shown is not None and shown.group(1) == summary.group(1)
    assert (tmp_path / "digits_cnn.trained.loss.png").read_bytes().startswith(b"\x89PNG")


def test_readme_onnx_table_is_the_generated_one():
    """README's ONNX support table is `graphdiff ops --onnx` (made from the importer's converters)."""
    pytest.importorskip("onnx")
    from graphdiff.onnxio.importer import support_table

    start, end = "<!-- onnx table: graphdiff ops --onnx -->\n", "<!-- end of onnx table -->"
    table = README.split(start)[1].split(end)[0]
    assert table == support_table(), "README's ONNX table is stale: paste `graphdiff ops --onnx`"


def test_onnx_walk_through_runs_as_written(tmp_path):
    """The "Models from elsewhere" commands, run as a reader would from a checkout."""
    pytest.importorskip("onnx")

    block = next(b for b in code_blocks(README) if b.startswith("graphdiff import tests/onnx_fixtures/"))
    shutil.copytree(ROOT / "tests" / "onnx_fixtures", tmp_path / "tests" / "onnx_fixtures")
    outputs = []
    for line in block.splitlines():
        args = shlex.split(line)
        assert args[0] == "graphdiff"
        proc = run_cli(*args[1:], cwd=tmp_path)
        assert proc.returncode == 0, (line, proc.stderr)
        outputs.append(proc.stdout)
    summary = "15 nodes, 8 parameters (4,982 weights); inputs x (batch, 1, 16, 16) float32, y (batch,) int64"
    assert summary in outputs[0] and " ".join(summary.split()) in " ".join(README.split())
    assert "gradient check passed" in outputs[2]
    assert (tmp_path / "lenet.png").stat().st_size > 10_000
