"""The rest of the bad-input catalogue: array files that try to reach outside, block, explode or carry
non-finite data, and output files that must not be clobbered, written through links or half-written.

Each refusal is checked through the CLI the way a user meets it: exit code 2, one line naming the file and
the place, no traceback, and the working folder byte-for-byte unchanged.
"""

from __future__ import annotations

import json
import os
import zipfile
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import assert_no_traceback, circuit_spec, problem_lines, run_cli, write_spec

import graphdiff as gd
from graphdiff import fileio

SPEC = "spec.json"


def snapshot(folder: Path) -> dict[str, Any]:
    """Every entry under ``folder``: file -> bytes, link -> target, folder -> None, FIFO -> "fifo" (a FIFO
    is recorded, not read: reading it would block)."""
    entries: dict[str, Any] = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        if path.is_symlink():
            entries[key] = "symlink -> " + os.readlink(path)
        elif path.is_fifo():
            entries[key] = "fifo"
        elif path.is_dir():
            entries[key] = None
        else:
            entries[key] = path.read_bytes()
    return entries


def spec_with_file(value: dict[str, Any], shape: list[int] | None = None) -> dict[str, Any]:
    leaf = {"id": "w", "kind": "parameter", "shape": shape or [3], "value": value}
    node = {"id": "L", "op": "sum", "inputs": ["w"]}
    return {"format_version": 1, "name": "files", "leaves": [leaf], "nodes": [node], "loss": "L"}


def assert_refused_cleanly(folder: Path, *args: str, expected: str) -> None:
    """The CLI refuses with exit 2 and one line containing ``expected``, and leaves ``folder`` as it was."""
    before = snapshot(folder)
    proc = run_cli(*args, cwd=folder)
    assert proc.returncode == 2, proc.stderr
    assert_no_traceback(proc)
    lines = problem_lines(proc.stderr)
    assert len(lines) == 1, lines
    assert expected in lines[0], lines[0]
    assert snapshot(folder) == before


# --- array files ----------------------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "spec").mkdir()
    np.save(tmp_path / "outside.npy", np.array([1.0, 2.0, 3.0]))
    return tmp_path / "spec"


def test_dotdot_inside_a_longer_path_is_refused(folder):
    (folder / "sub").mkdir()
    write_spec(folder, SPEC, spec_with_file({"file": "sub/../../outside.npy"}))
    assert_refused_cleanly(folder, "validate", SPEC, expected='spec.json: leaves[0] "w": value.file: sub/../')


def test_a_symlinked_parent_folder_is_refused(folder):
    os.symlink(folder.parent, folder / "up")
    write_spec(folder, SPEC, spec_with_file({"file": "up/outside.npy"}))
    assert_refused_cleanly(
        folder, "validate", SPEC, expected="up/outside.npy: symbolic links are not followed"
    )


def test_a_hard_link_to_a_file_elsewhere_is_refused(folder):
    os.link(folder.parent / "outside.npy", folder / "w.npy")
    write_spec(folder, SPEC, spec_with_file({"file": "w.npy"}))
    assert_refused_cleanly(folder, "validate", SPEC, expected="w.npy: has 2 hard links")


def test_a_fifo_is_refused_without_blocking(folder):
    os.mkfifo(folder / "w.npy")  # opening it for reading would block until a writer came
    write_spec(folder, SPEC, spec_with_file({"file": "w.npy"}))
    assert_refused_cleanly(folder, "validate", SPEC, expected="w.npy: not a regular file")


def test_a_compression_bomb_member_is_refused_before_it_expands(folder):
    big = BytesIO()
    np.save(big, np.zeros(4_000_000))  # 32 MB of zeros compress about 1000:1
    with zipfile.ZipFile(folder / "bomb.npz", "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("w.npy", big.getvalue())
    assert (folder / "bomb.npz").stat().st_size < 100_000
    write_spec(folder, SPEC, spec_with_file({"file": "bomb.npz", "key": "w"}, shape=[4_000_000]))
    assert_refused_cleanly(folder, "validate", SPEC, expected="refusing a possible compression bomb")


def test_a_member_named_like_a_path_is_read_inside_the_archive_only(folder):
    buffer = BytesIO()
    np.save(buffer, np.array([7.0, 8.0, 9.0]))
    with zipfile.ZipFile(folder / "data.npz", "w") as archive:
        archive.writestr("../x.npy", buffer.getvalue())
    write_spec(folder, SPEC, spec_with_file({"file": "data.npz", "key": "../x"}))
    before = snapshot(folder.parent)
    graph = gd.load(folder / SPEC)
    np.testing.assert_array_equal(graph.run().value("w"), [7.0, 8.0, 9.0])
    assert snapshot(folder.parent) == before  # nothing extracted anywhere


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_array_data_is_refused_naming_the_index(bad, folder):
    np.save(folder / "w.npy", np.array([1.0, bad, 3.0]))
    write_spec(folder, SPEC, spec_with_file({"file": "w.npy"}))
    assert_refused_cleanly(folder, "validate", SPEC, expected=f"w.npy: holds {bad} at index [1]")


# --- output files ---------------------------------------------------------------------------------------


@pytest.fixture
def circuit(tmp_path: Path) -> Path:
    write_spec(tmp_path, "circuit.json", circuit_spec())
    return tmp_path


@pytest.mark.parametrize(
    "args",
    [
        ["grad", "circuit.json", "-f", "z=[1,2,3]", "--save", "out.json"],
        ["render", "circuit.json", "-f", "z=[1,2,3]", "-o", "out.dot"],
        ["schema", "-o", "out.json"],
    ],
    ids=["grad-save", "render", "schema"],
)
def test_an_existing_output_is_not_replaced_without_force(args, circuit):
    target = circuit / args[-1]
    target.write_text("precious")
    assert_refused_cleanly(circuit, *args, expected="already exists; use --force to replace it")
    proc = run_cli(*args, "--force", cwd=circuit)
    assert proc.returncode == 0, proc.stderr
    assert target.read_text() != "precious"


def test_an_existing_step_through_page_is_not_replaced_without_force(circuit):
    assert (
        run_cli("render", "circuit.json", "-f", "z=[1,2,3]", "--steps", "steps", cwd=circuit).returncode == 0
    )
    assert_refused_cleanly(
        circuit,
        "render",
        "circuit.json",
        "-f",
        "z=[1,2,3]",
        "--steps",
        "steps",
        expected="steps/index.html: already exists",
    )


def test_an_output_that_is_a_symbolic_link_is_refused_even_with_force(circuit):
    (circuit / "elsewhere.json").write_text("precious")
    os.symlink("elsewhere.json", circuit / "out.json")
    assert_refused_cleanly(
        circuit,
        "schema",
        "-o",
        "out.json",
        "--force",
        expected="out.json: is a symbolic link; refusing to write through it",
    )
    assert (circuit / "elsewhere.json").read_text() == "precious"


@pytest.mark.parametrize("failing", ["write", "fsync", "replace"])
def test_a_failure_while_writing_leaves_the_old_file_and_no_temporary_file(failing, tmp_path, monkeypatch):
    graph = gd.load(write_spec(tmp_path, "circuit.json", circuit_spec()))
    target = tmp_path / "saved.json"
    target.write_text("the old file")
    before = snapshot(tmp_path)

    def fail(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    if failing == "write":
        real_fdopen = os.fdopen

        class FailingFile:
            def __init__(self, fd: int, mode: str) -> None:
                self.file = real_fdopen(fd, mode)

            def __enter__(self) -> FailingFile:
                return self

            def __exit__(self, *exc: Any) -> None:
                self.file.close()

            def write(self, data: bytes) -> None:
                self.file.write(data[: len(data) // 2])  # half written, then the disk fills up
                fail()

        monkeypatch.setattr(fileio.os, "fdopen", FailingFile)
    else:
        monkeypatch.setattr(fileio.os, failing, fail)
    with pytest.raises(gd.GraphdiffError, match="saved.json: cannot write: No space left on device"):
        gd.save(graph, target)
    assert snapshot(tmp_path) == before


def test_a_file_that_appears_while_writing_without_overwrite_is_not_replaced(tmp_path, monkeypatch):
    target = tmp_path / "out.json"
    real_link = os.link

    def someone_else_writes_first(source: str, destination: Any) -> None:
        Path(destination).write_text("theirs")
        real_link(source, destination)

    monkeypatch.setattr(fileio.os, "link", someone_else_writes_first)
    with pytest.raises(gd.GraphdiffError, match="already exists"):
        fileio.write_atomic(target, json.dumps({"mine": 1}), overwrite=False)
    assert target.read_text() == "theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]
