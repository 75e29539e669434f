"""The README is the first thing a newcomer runs: its commands, its claims and its pictures are checked."""

from __future__ import annotations

import re
from pathlib import Path

import graphdiff as gd

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def code_blocks(text: str) -> list[str]:
    return [block.strip() for block in re.findall(r"```(?:bash|console)?\n(.*?)```", text, flags=re.S)]


def test_readme_opens_with_the_install_and_demo_command_then_the_test_command():
    first, second = code_blocks(README)[:2]
    assert first.endswith('pip install -e ".[dev]" && graphdiff demo')
    assert second == "python -m pytest"
    assert README.index(first) < 400  # at the very top, before any explanation


def test_ci_runs_exactly_the_readme_test_command():
    test_command = code_blocks(README)[1]
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_command in ci_lines
    assert "apt-get install -y -qq graphviz >/dev/null" in ci_lines  # diagrams are tested with the real dot


def test_readme_op_table_lists_every_registered_op_and_no_other():
    table = README.split("### Ops")[1].split("**At kinks**")[0]
    listed = set(re.findall(r"`([a-z_0-9]+)`", table)) - {"axis", "keepdims", "delta", "reduction", "lambda"}
    assert listed == set(gd.OPS)


def test_committed_circuit_diagram_shows_the_lecture_numbers():
    svg = (ROOT / "docs" / "cs231n_circuit.svg").read_text(encoding="utf-8")
    texts = {t.replace("&#45;", "-") for t in re.findall(r">([^<>]+)</text>", svg)}
    assert {"-2", "5", "-4", "3", "-12", "1"} <= texts
    assert "README.md" not in svg and "<svg" in svg


def test_every_picture_the_readme_shows_exists():
    for target in re.findall(r"\]\((docs/[^)]+)\)", README):
        assert (ROOT / target).is_file(), target
