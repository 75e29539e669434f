"""Hardening of the files diagrams write: every legal id renders, a step-through folder and the demo's folder
are written all or nothing, and temporary files left by a killed writer are removed by the next write.

1. Ids may hold any character but control characters, so ``http://host/p``, ``a//b/c``, ``]`` or U+FFFE
   must render in every format (the clusters made from '/' never get an empty name), the ``.dot`` written
   must be valid DOT, and when ``dot`` itself fails the one line names the output file and ``dot``'s own
   first error line.
2. ``render --steps DIR`` builds the folder beside DIR and renames it into place: a folder holding a file
   graphdiff did not write is refused even with --force, and a failure (no ``dot``, ``dot`` failing, a
   full disk, Ctrl-C) leaves DIR as it was and no temporary folder.
3. ``demo --output-dir DIR`` likewise, and refuses an existing DIR without --force.
4. Temporary names carry the writer's pid (``.NAME.PID.XXXXXXXX.tmp``) and the writer holds an flock on
   them: a SIGKILLed writer's leftovers are removed by the next write to the same target, a live one's never.

Refusals are checked the way the catalogue checks them: the exit code, exactly one stderr line naming the
file and the place, no traceback, and the folder byte-for-byte unchanged.
"""

from __future__ import annotations

import errno
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import graphviz
import pytest
from helpers import assert_no_traceback, circuit_spec, problem_lines, run_cli, snapshot, write_spec

import graphdiff as gd
from graphdiff import fileio
from graphdiff.cli import main
from graphdiff.render import render_bytes, write_diagram

ROOT = Path(__file__).resolve().parent.parent
CIRCUIT = ROOT / "examples" / "cs231n_circuit.json"
DOT = shutil.which("dot")
SVG_NS = "{http://www.w3.org/2000/svg}"

needs_dot = pytest.mark.skipif(DOT is None, reason="Graphviz's dot is not installed")
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file semantics (flock, signals)")


# --- helpers ---------------------------------------------------------------------------------------------


def assert_refused_cleanly(
    folder: Path,
    *args: str | os.PathLike[str],
    expected: str,
    env: dict[str, str] | None = None,
    code: int = 2,
) -> subprocess.CompletedProcess[str]:
    """The CLI fails with ``code`` and one stderr line containing ``expected``, and leaves ``folder`` (hidden
    entries included: no temporary file or folder) exactly as it was."""
    before = snapshot(folder)
    proc = run_cli(*args, cwd=folder, env=env)
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert_no_traceback(proc)
    lines = problem_lines(proc.stderr)
    assert len(lines) == 1, lines
    assert expected in lines[0], lines[0]
    assert "PosixPath" not in lines[0] and "[stderr" not in lines[0]  # no Python repr of a command
    assert snapshot(folder) == before
    return proc


def temporaries(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.endswith(".tmp"))


def spec_with_ids(leaves: list[str], groups: dict[str, str] | None = None) -> dict[str, Any]:
    """Leaves with these ids (groups as given), added up pairwise in nodes "s1", "s2", ..., loss "L"."""
    groups = groups or {}
    spec_leaves = [
        {"id": id, "kind": "input", "value": float(i + 1), **({"group": groups[id]} if id in groups else {})}
        for i, id in enumerate(leaves)
    ]
    nodes, acc = [], leaves[0]
    for i, id in enumerate(leaves[1:], 1):
        nodes.append({"id": f"s{i}", "op": "add", "inputs": [acc, id]})
        acc = f"s{i}"
    nodes.append({"id": "L", "op": "square", "inputs": [acc]})
    return {"format_version": 1, "name": "ids", "leaves": spec_leaves, "nodes": nodes, "loss": "L"}


def svg_texts(data: bytes) -> tuple[list[str], list[str]]:
    """(every node's texts, every cluster's label) of an SVG laid out by Graphviz."""
    root = ET.fromstring(data)
    nodes, clusters = [], []
    for group in root.iter(f"{SVG_NS}g"):
        texts = [
            " ".join("".join(t.itertext()).replace("\xa0", " ").split()) for t in group.iter(f"{SVG_NS}text")
        ]
        if group.get("class") == "node":
            nodes += texts
        elif group.get("class") == "cluster":
            clusters.append(" ".join(texts))
    return nodes, clusters


def dot_parses(path: Path) -> None:
    """``dot`` reads the DOT file without an error."""
    proc = subprocess.run([DOT, "-Tsvg", str(path)], capture_output=True, timeout=60)
    assert proc.returncode == 0 and not proc.stderr, proc.stderr.decode()


def stub_dot(folder: Path, body: str) -> dict[str, str]:
    """An environment whose PATH finds a shell script ``dot`` (``body``, then the real dot) first. The
    script may count its calls in $STUB_DIR/calls."""
    folder.mkdir(exist_ok=True)
    script = folder / "dot"
    script.write_text(
        "#!/bin/sh\n"
        'echo x >> "$STUB_DIR/calls"\n'
        'n=$(wc -l < "$STUB_DIR/calls")\n'
        f"{textwrap.dedent(body)}\n"
        f'exec {DOT or "/usr/bin/dot"} "$@"\n'
    )
    script.chmod(0o755)
    return {
        **os.environ,
        "PATH": f"{folder}{os.pathsep}{os.environ.get('PATH', '')}",
        "STUB_DIR": str(folder),
    }


def failing_dot_at(folder: Path, call: int) -> dict[str, str]:
    """dot that fails, as Graphviz does on a syntax error, from its ``call``-th run on."""
    return stub_dot(
        folder,
        f"""\
        if [ "$n" -ge {call} ]; then
          echo "Warning: a warning comes first" >&2
          echo "Error: syntax error in line 7 near 'stub'" >&2
          echo "... <I></I> ..." >&2
          exit 1
        fi""",
    )


def sleeping_dot_at(folder: Path, call: int) -> dict[str, str]:
    """dot that, at its ``call``-th run, writes its pid to $STUB_DIR/ready and sleeps (it is the sleep)."""
    return stub_dot(
        folder,
        f"""\
        if [ "$n" -eq {call} ]; then
          echo $$ > "$STUB_DIR/ready.tmp" && mv "$STUB_DIR/ready.tmp" "$STUB_DIR/ready"
          exec sleep 60
        fi""",
    )


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    """Poll ``condition``; ``timeout`` only stops a hung test (nothing here measures speed)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout} s")
        time.sleep(0.01)


def wait_for(path: Path, timeout: float = 60) -> None:
    wait_until(path.exists, f"{path} appearing", timeout)


def start_cli(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "graphdiff.cli", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def end_stub(stub: Path) -> None:
    """End the sleeping stub dot this test started (by its pid), if it still runs."""
    ready = stub / "ready"
    if ready.exists():
        try:
            os.kill(int(ready.read_text()), signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A working folder holding circuit.json (z fed on the command line: -f z=[1,2,3])."""
    folder = tmp_path / "work"
    folder.mkdir()
    write_spec(folder, "circuit.json", circuit_spec())
    return folder


FEED = ("-f", "z=[1,2,3]")


def made_steps(folder: Path, *extra: str) -> dict[str, Any]:
    """A step-through folder "steps" written by graphdiff, and the snapshot of the working folder with it.
    (Given ``--title old``, every file of it differs from what a run without it writes.)"""
    proc = run_cli("render", "circuit.json", *FEED, "--steps", "steps", *extra, cwd=folder)
    assert proc.returncode == 0, proc.stderr
    return snapshot(folder)


# --- 1. every legal id renders -------------------------------------------------------------------------

DOUBLE_SLASHES = ["http://host/p", "a//b/c", "//lead", "trail//", "x/y"]


@needs_dot
@pytest.mark.parametrize("suffix", [".svg", ".png", ".pdf", ".dot"])
def test_ids_with_double_slashes_render_in_every_format(suffix, work):
    write_spec(work, "ids.json", spec_with_ids(DOUBLE_SLASHES, {"x/y": "g//h/"}))
    assert run_cli("validate", "ids.json", cwd=work).returncode == 0
    proc = run_cli("render", "ids.json", "-o", f"out{suffix}", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert_no_traceback(proc)
    if suffix == ".dot":
        dot_parses(work / "out.dot")
        assert "<I></I>" not in (work / "out.dot").read_text()
    elif suffix == ".svg":
        nodes, clusters = svg_texts((work / "out.svg").read_bytes())
        for id in DOUBLE_SLASHES:
            assert id in nodes, (id, nodes)
        # clusters drop the empty parts: http:/host, a/b, trail, g/h; each has a name to draw
        assert all(label.strip() for label in clusters), clusters
        assert {"http:", "host", "a", "b", "trail", "g", "h"} <= set(clusters), clusters


@needs_dot
def test_ids_with_double_slashes_step_through(work):
    write_spec(work, "ids.json", spec_with_ids(DOUBLE_SLASHES))
    proc = run_cli("render", "ids.json", "--steps", "steps", cwd=work)
    assert proc.returncode == 0, proc.stderr
    frames = sorted((work / "steps").glob("frame-*.svg"))
    assert len(frames) == 1 + 5 + 1 + 5
    nodes, _ = svg_texts(frames[-1].read_bytes())
    assert "http://host/p" in nodes


AWKWARD = {
    "bracket": "]",
    "brackets": "]]",
    "cdata-end": "]]>",
    "in-element": "x]y",
    "nonchar-fffe": "a\ufffeb",
    "nonchar-ffff": "\uffff",
    "markup": "<b>&amp;</b>",
    "quotes": "'\"",
    "backslashes": "\\N \\G \\E \\L \\\\ \\",  # Graphviz expands \\N (the node's name) even in HTML
    "braces": "{x} [y]",
    "entity-like": "&#93; &lt;",
    "emoji-and-nbsp": "\U0001f600\xa0é",
    "spaces-only": "   ",
}


@needs_dot
@pytest.mark.parametrize("id", list(AWKWARD.values()), ids=list(AWKWARD))
def test_other_legal_ids_render_and_write_valid_dot(id, work, monkeypatch, capsys):
    write_spec(work, "ids.json", spec_with_ids([id, f"g/{id}/h"], {id: f"{id}//{id}"}))
    monkeypatch.chdir(work)  # the command line, run in this process (a new one per case is slow)
    assert main(["validate", "ids.json"]) == 0
    assert main(["render", "ids.json", "-o", "out.svg", "--title", id]) == 0, capsys.readouterr().err
    assert main(["render", "ids.json", "-o", "out.dot"]) == 0, capsys.readouterr().err
    dot_parses(work / "out.dot")
    nodes, _ = svg_texts((work / "out.svg").read_bytes())
    shown = " ".join(id.replace("\ufffe", "\ufffd").replace("\uffff", "\ufffd").split())
    assert any(shown in text for text in nodes), (shown, nodes)


@needs_dot
@pytest.mark.parametrize("title", ["", " ", "\n"], ids=["empty", "blank", "newline"])
def test_an_empty_or_blank_title_renders(title):
    graph = gd.loads(json.dumps(spec_with_ids(["x", "y"])), label="t.json")
    assert render_bytes(gd.render(graph, graph.run(), title=title), "svg").startswith(b"<?xml")
    assert render_bytes(gd.render(graph, graph.run(), title=title, show="none"), "svg").startswith(b"<?xml")


@needs_dot
def test_random_awkward_ids_groups_and_collapses_always_render():
    alphabet = list("[]{}<>&;#\"'\\/|:%$!?*^~`=+-_., ()@a1") + ["\xa0", "é", "\ufffe", "\U0001f600", "]]>"]
    rng = random.Random(0)

    def name() -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6)))

    for _ in range(12):
        ids: list[str] = []
        while len(ids) < 12:
            candidate = name()
            if candidate not in ids and not candidate.startswith("s") and candidate != "L":
                ids.append(candidate)
        groups = {id: name() for id in ids if rng.random() < 0.5}
        graph = gd.loads(json.dumps(spec_with_ids(ids, groups)), label="t.json")
        result = graph.run()
        clusters = [g for g in groups.values() if g.strip("/")]
        collapse = [rng.choice(clusters)] if clusters else []
        for options in [{}, {"collapse": collapse}, {"max_nodes": 4}, {"title": name()}]:
            diagram = gd.render(graph, result, **options)
            assert render_bytes(diagram, "svg").startswith(b"<?xml"), (ids, groups, options)
        # A name that is no cluster is refused in one line, listing the clusters.
        with pytest.raises(gd.GraphdiffError, match="no cluster"):
            gd.render(graph, result, collapse=["no such cluster \u2603"])


@needs_dot
@pytest.mark.parametrize("suffix", [".svg", ".png"])
def test_when_dot_fails_one_line_names_the_file_and_dots_first_error(suffix, work, tmp_path):
    env = failing_dot_at(tmp_path / "stub", 1)
    assert_refused_cleanly(
        work,
        "render",
        "circuit.json",
        *FEED,
        "-o",
        f"out{suffix}",
        env=env,
        expected=f"out{suffix}: Graphviz's dot failed: Error: syntax error in line 7 near 'stub'",
    )


@needs_dot
def test_when_dot_fails_on_a_frame_the_line_names_that_frame(work, tmp_path):
    env = failing_dot_at(tmp_path / "stub", 4)  # after the frames' direction (a -Tplain layout) and 2 frames
    assert_refused_cleanly(
        work,
        "render",
        "circuit.json",
        *FEED,
        "--steps",
        "steps",
        env=env,
        expected="steps/frame-003.svg: Graphviz's dot failed: Error: syntax error in line 7",
    )


@needs_dot
def test_a_real_dot_error_from_the_api_names_the_file(tmp_path):
    broken = graphviz.Digraph()
    broken.node("a", label="<<B></B>>")  # an element with no text: Graphviz's HTML parser refuses it
    with pytest.raises(gd.GraphdiffError) as info:
        write_diagram(broken, tmp_path / "broken.svg")
    (line,) = [str(p) for p in info.value.problems]
    assert line.startswith(f"{tmp_path / 'broken.svg'}: Graphviz's dot failed: Error: syntax error")
    assert "\n" not in line and "PosixPath" not in line
    assert list(tmp_path.iterdir()) == []


def test_without_dot_steps_name_the_first_frame_and_write_no_folder(work, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_refused_cleanly(
        work,
        "render",
        "circuit.json",
        *FEED,
        "--steps",
        "deeper/steps",
        env={**os.environ, "PATH": str(empty)},
        expected="deeper/steps/frame-001.svg: Graphviz's dot program is needed for .svg output",
    )
    assert not (work / "deeper").exists()  # the missing parent made for it is gone again too


# --- 2. a steps folder is written all or nothing --------------------------------------------------------


@needs_dot
@pytest.mark.parametrize("force", [[], ["--force"]], ids=["plain", "force"])
def test_a_folder_holding_the_users_own_frame_is_refused(force, work):
    (work / "steps").mkdir()
    (work / "steps" / "frame-001.svg").write_text("my own drawing")
    assert_refused_cleanly(
        work,
        "render",
        "circuit.json",
        *FEED,
        "--steps",
        "steps",
        *force,
        expected="steps/frame-001.svg: was not written by graphdiff; refusing to replace the folder steps",
    )


@needs_dot
@pytest.mark.parametrize(
    "change",
    ["added-file", "changed-page", "added-folder", "link-inside", "page-is-a-link", "lost-manifest"],
)
def test_a_graphdiff_folder_with_anything_of_someone_elses_is_refused_even_with_force(change, work):
    made_steps(work)
    folder = work / "steps"
    (work / "elsewhere.txt").write_text("precious")
    expected = {
        "added-file": "steps/notes.txt: was not written by graphdiff",
        "changed-page": "steps/index.html: was changed after graphdiff wrote it",
        "added-folder": "steps/mine: was not written by graphdiff",
        "link-inside": "steps/link.svg: is a symbolic link graphdiff did not make",
        "page-is-a-link": "steps/index.html: is a symbolic link graphdiff did not make",
        "lost-manifest": "steps/frame-001.svg: was not written by graphdiff",
    }[change]
    if change == "added-file":
        (folder / "notes.txt").write_text("mine")
    elif change == "changed-page":
        with open(folder / "index.html", "a") as page:
            page.write("<!-- my edit -->")
    elif change == "added-folder":
        (folder / "mine").mkdir()
    elif change == "link-inside":
        os.symlink("../elsewhere.txt", folder / "link.svg")
    elif change == "page-is-a-link":  # the old code deleted the frames, then refused to write the page
        (folder / "index.html").unlink()
        os.symlink("../elsewhere.txt", folder / "index.html")
    else:
        (folder / ".graphdiff-manifest.json").write_text("{}")
    assert_refused_cleanly(
        work, "render", "circuit.json", *FEED, "--steps", "steps", "--force", expected=expected + ";"
    )
    assert (work / "elsewhere.txt").read_text() == "precious"


@needs_dot
def test_a_link_or_a_file_as_the_steps_folder_is_refused(work):
    (work / "real").mkdir()
    os.symlink("real", work / "steps")
    args = ("render", "circuit.json", *FEED, "--force", "--steps")
    assert_refused_cleanly(work, *args, "steps", expected="steps: is a symbolic link; refusing to write")
    (work / "file").write_text("x")
    assert_refused_cleanly(work, *args, "file", expected="file: exists and is not a folder")
    assert_refused_cleanly(work, *args, ".", expected=".: name the folder itself")


@needs_dot
def test_an_existing_steps_folder_is_replaced_only_with_force_and_then_whole(work):
    made_steps(work)
    assert_refused_cleanly(
        work, "render", "circuit.json", *FEED, "--steps", "steps", expected="steps/index.html: already exists"
    )
    write_spec(work, "longer.json", spec_with_ids(["a", "b", "c", "d", "e"]))
    proc = run_cli("render", "longer.json", "--steps", "steps", "--force", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert len(list((work / "steps").glob("frame-*.svg"))) == 1 + 5 + 1 + 5
    proc = run_cli("render", "circuit.json", *FEED, "--steps", "steps", "--force", cwd=work)
    assert proc.returncode == 0, proc.stderr
    # the shorter run's folder holds its own frames only: none of the longer run's linger
    assert sorted(p.name for p in (work / "steps").iterdir()) == [
        ".graphdiff-manifest.json",
        *(f"frame-{i:03d}.svg" for i in range(1, 1 + 3 + 1 + 3 + 1)),
        "index.html",
    ]
    assert temporaries(work) == []


@needs_dot
def test_an_empty_existing_folder_is_filled_without_force(work):
    (work / "steps").mkdir()
    proc = run_cli("render", "circuit.json", *FEED, "--steps", "steps", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert (work / "steps" / "index.html").is_file()


@needs_dot
def test_a_folder_written_before_folders_had_a_manifest_is_replaced_with_force(work):
    made_steps(work)
    (work / "steps" / ".graphdiff-manifest.json").unlink()  # as graphdiff wrote it before
    proc = run_cli("render", "circuit.json", *FEED, "--steps", "steps", "--force", cwd=work)
    assert proc.returncode == 0, proc.stderr
    (work / "steps" / ".graphdiff-manifest.json").unlink()
    (work / "steps" / "frame-009.svg").write_text("one more than the page shows")
    assert_refused_cleanly(
        work,
        "render",
        "circuit.json",
        *FEED,
        "--steps",
        "steps",
        "--force",
        expected="steps/frame-001.svg: was not written by graphdiff",
    )


@needs_dot
@pytest.mark.parametrize("existing", [False, True], ids=["new-folder", "replacing"])
def test_dot_failing_midway_leaves_the_folder_as_it_was(existing, work, tmp_path):
    if existing:
        made_steps(work, "--title", "old")
    # Calls: out.svg's direction (a -Tplain layout) and its SVG, the frames' direction, frames 1 and 2.
    env = failing_dot_at(tmp_path / "stub", 6)
    assert_refused_cleanly(
        work,
        "render",
        "circuit.json",
        *FEED,
        "-o",
        "out.svg",
        "--steps",
        "steps",
        "--force",
        env=env,
        expected="steps/frame-003.svg: Graphviz's dot failed",  # out.svg was drawn: neither is written
    )


@needs_dot
def test_a_full_disk_midway_leaves_the_folder_as_it_was(work):
    made_steps(work, "--title", "old")
    before = snapshot(work)

    def limit_file_size() -> None:  # a file may grow to 30 kB: the frames fit, the page does not
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (30_000, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "graphdiff.cli",
            "render",
            "circuit.json",
            *FEED,
            "--steps",
            "steps",
            "--force",
        ],
        cwd=work,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=limit_file_size,
    )
    assert proc.returncode == 2, proc.stderr
    assert_no_traceback(proc)
    assert problem_lines(proc.stderr) == ["steps/index.html: cannot write: File too large"]
    assert snapshot(work) == before


@needs_dot
def test_no_space_left_while_writing_a_frame_through_the_api(tmp_path, monkeypatch):
    graph = gd.load(CIRCUIT)
    result = graph.run()
    gd.render_steps(graph, result, tmp_path / "steps")
    before = snapshot(tmp_path)
    real_fsync = os.fsync
    calls = []

    def fsync(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(fileio.os, "fsync", fsync)
    with pytest.raises(gd.GraphdiffError) as info:
        gd.render_steps(graph, result, tmp_path / "steps")
    monkeypatch.undo()
    assert [str(p) for p in info.value.problems] == [
        f"{tmp_path / 'steps' / 'frame-002.svg'}: cannot write: No space left on device"
    ]
    assert snapshot(tmp_path) == before


@needs_dot
@pytest.mark.parametrize("when", ["while-building", "after-the-last-check"])
@pytest.mark.parametrize("rename2", [True, False], ids=["renameat2", "two-renames"])
def test_a_file_put_into_the_folder_meanwhile_is_kept_and_refused(when, rename2, tmp_path, monkeypatch):
    """Someone writes into the old folder while the new one is built, or even between the last check and
    the swap: the old folder is checked again once swapped out, and put back."""
    graph = gd.load(CIRCUIT)
    result = graph.run()
    folder = tmp_path / "steps"
    gd.render_steps(graph, result, folder)
    if when == "while-building":
        steps_module = sys.modules["graphdiff.render.steps"]
        real_build = steps_module.write_steps_into

        def build_while_someone_writes(*args: Any) -> None:
            real_build(*args)
            (folder / "late.txt").write_text("theirs")

        monkeypatch.setattr(steps_module, "write_steps_into", build_while_someone_writes)
    else:
        real_check = fileio.check_folder_writable
        checks = []

        def check_then_someone_writes(*args: Any, **kwargs: Any) -> Path:
            checked = real_check(*args, **kwargs)
            checks.append(checked)
            if len(checks) == 2:  # the check just before the swap
                (folder / "late.txt").write_text("theirs")
            return checked

        monkeypatch.setattr(fileio, "check_folder_writable", check_then_someone_writes)
    if not rename2:
        monkeypatch.setattr(fileio, "_rename2", lambda *args: False)
    before = snapshot(tmp_path)
    with pytest.raises(gd.GraphdiffError, match="steps/late.txt: was not written by graphdiff"):
        gd.render_steps(graph, result, folder)
    before["steps/late.txt"] = b"theirs"
    assert snapshot(tmp_path) == before  # the old folder is back, with their file; no temporary folder


@needs_dot
@pytest.mark.parametrize("rename2", [True, False], ids=["renameat2", "two-renames"])
def test_replacing_works_without_renameat2_too(rename2, tmp_path, monkeypatch):
    if not rename2:
        monkeypatch.setattr(fileio, "_rename2", lambda *args: False)
    graph = gd.load(CIRCUIT)
    index = gd.render_steps(graph, graph.run(), tmp_path / "steps")
    first = index.read_bytes()
    gd.render_steps(graph, graph.run(), tmp_path / "steps", title="again")
    assert index.read_bytes() != first and b"again: backpropagation step by step" in index.read_bytes()
    assert sorted(os.listdir(tmp_path)) == ["steps"]


@needs_dot
@pytest.mark.parametrize("existing", [False, True], ids=["new-folder", "replacing"])
def test_ctrl_c_while_the_steps_folder_is_built_leaves_it_as_it_was(existing, work, tmp_path):
    if existing:
        made_steps(work, "--title", "old")
    before = snapshot(work)
    stub = tmp_path / "stub"
    env = sleeping_dot_at(stub, 3)
    proc = start_cli("render", "circuit.json", *FEED, "--steps", "steps", "--force", cwd=work, env=env)
    try:
        wait_for(stub / "ready")
        assert [n for n in temporaries(work) if n.startswith(f".steps.{proc.pid}.")]  # being built
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        end_stub(stub)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and problem_lines(err) == ["interrupted"]
    assert snapshot(work) == before  # DIR as it was, and no temporary folder beside it


# --- 3. the demo's folder ---------------------------------------------------------------------------------


@needs_dot
def test_the_demo_does_not_replace_its_folder_without_force(tmp_path):
    assert run_cli("demo", cwd=tmp_path).returncode == 0
    proc = assert_refused_cleanly(
        tmp_path, "demo", expected="graphdiff-demo: already exists; use --force to replace it"
    )
    assert proc.stdout == ""  # refused before the demo ran
    proc = run_cli("demo", "--force", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "graphdiff-demo/steps/index.html" in proc.stdout
    assert sorted(os.listdir(tmp_path)) == ["graphdiff-demo"]


@needs_dot
@pytest.mark.parametrize("force", [[], ["--force"]], ids=["plain", "force"])
def test_the_demo_never_writes_into_a_folder_holding_other_files(force, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "cs231n_circuit.svg").write_text("my own picture")
    assert_refused_cleanly(
        tmp_path,
        "demo",
        "--output-dir",
        "out",
        *force,
        expected="out/cs231n_circuit.svg: was not written by graphdiff; refusing to replace the folder out",
    )


@needs_dot
def test_the_demo_writes_nothing_when_dot_fails(tmp_path):
    # dot: the direction (-Tplain), the svg, the png, the frames' direction, then the first frame fails
    env = failing_dot_at(tmp_path / "stub", 5)
    work = tmp_path / "work"
    work.mkdir()
    assert_refused_cleanly(
        work,
        "demo",
        "--output-dir",
        "a/demo",
        env=env,
        expected="a/demo/steps/frame-001.svg: Graphviz's dot failed",
    )


@needs_dot
def test_the_demo_replaces_a_demo_folder_written_before_manifests_with_force(tmp_path):
    assert run_cli("demo", cwd=tmp_path).returncode == 0
    folder = tmp_path / "graphdiff-demo"
    (folder / ".graphdiff-manifest.json").unlink()
    (folder / "steps" / ".graphdiff-manifest.json").unlink()
    assert run_cli("demo", "--force", cwd=tmp_path).returncode == 0
    assert (folder / ".graphdiff-manifest.json").is_file()


# --- 4. temporary files of killed writers ------------------------------------------------------------------

#: A writer whose fsync of its temporary file waits for a line on stdin (after saying "ready").
SLOW_WRITER = """
import os, sys
from graphdiff import fileio
real_fsync = os.fsync
waited = []
def fsync(fd):
    if not waited:
        waited.append(fd)
        print("ready", flush=True)
        sys.stdin.readline()
    real_fsync(fd)
fileio.os.fsync = fsync
fileio.write_atomic(sys.argv[1], sys.argv[2] * int(sys.argv[3]))
"""


def start_slow_writer(target: Path, text: str, repeat: int = 1) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_WRITER, str(target), text, str(repeat)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    return proc


def process_state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]


@pytest.mark.parametrize(
    "reaped",
    [True, pytest.param(False, marks=pytest.mark.skipif(not Path("/proc/self").exists(), reason="no /proc"))],
    ids=["reaped", "zombie"],
)
def test_a_killed_writers_temporary_file_is_removed_by_the_next_write(reaped, tmp_path):
    target = tmp_path / "out.json"
    proc = start_slow_writer(target, "x" * 1000, 20_000)  # 20 MB written, then killed before the move
    try:
        (leftover,) = temporaries(tmp_path)
        assert leftover.startswith(f".out.json.{proc.pid}.") and (tmp_path / leftover).stat().st_size > 10**7
        proc.kill()
        if reaped:
            proc.wait()
        else:  # killed, but its parent (this test) has not collected it yet
            wait_until(lambda: process_state(proc.pid) == "Z", "the killed writer becoming a zombie", 30)
        assert temporaries(tmp_path) == [leftover]  # nothing removes it by itself
        proc2 = run_cli("schema", "-o", "out.json", cwd=tmp_path)  # the next write to the same target
        assert proc2.returncode == 0, proc2.stderr
        assert sorted(os.listdir(tmp_path)) == ["out.json"]
        assert json.loads(target.read_text()) == gd.spec_json_schema()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def start_steps_writer_sleeping_at_frame_3(work: Path, stub: Path) -> subprocess.Popen[str]:
    """``graphdiff render --steps steps`` whose dot sleeps on frame 3, its folder half built beside ``steps``.
    dot's calls: the frames' direction (a -Tplain layout), then frames 1, 2 and 3."""
    return start_cli(
        "render", "circuit.json", *FEED, "--steps", "steps", cwd=work, env=sleeping_dot_at(stub, 4)
    )


@needs_dot
def test_a_killed_steps_writers_temporary_folder_is_removed_by_the_next_write(work, tmp_path):
    stub = tmp_path / "stub"
    proc = start_steps_writer_sleeping_at_frame_3(work, stub)
    try:
        wait_for(stub / "ready")
        proc.kill()
        proc.wait()
    finally:
        end_stub(stub)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    (leftover,) = temporaries(work)
    assert leftover.startswith(f".steps.{proc.pid}.") and (work / leftover / "frame-001.svg").is_file()
    assert not (work / "steps").exists()
    made_steps(work)
    assert temporaries(work) == []
    assert (work / "steps" / "index.html").is_file()


def test_a_live_concurrent_writers_temporary_file_is_never_removed(tmp_path):
    target = tmp_path / "out.txt"
    proc = start_slow_writer(target, "theirs")
    try:
        (theirs,) = temporaries(tmp_path)
        fileio.write_atomic(target, "mine")  # the same target, while they are writing it
        assert target.read_text() == "mine"
        assert temporaries(tmp_path) == [theirs]
        assert proc.stdin is not None
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.wait(timeout=60) == 0  # their write completes: its temporary file was still there
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    assert target.read_text() == "theirs"
    assert sorted(os.listdir(tmp_path)) == ["out.txt"]


@needs_dot
def test_a_live_concurrent_steps_writers_temporary_folder_is_never_removed(work, tmp_path):
    stub = tmp_path / "stub"
    proc = start_steps_writer_sleeping_at_frame_3(work, stub)
    try:
        wait_for(stub / "ready")
        (theirs,) = temporaries(work)
        made_steps(work)  # the same folder, while they are building it
        assert temporaries(work) == [theirs]
    finally:
        end_stub(stub)  # their dot dies: their write fails and removes its own temporary folder
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "steps/frame-003.svg" in err, err
    assert temporaries(work) == []


def test_a_stale_looking_file_someone_still_locks_is_kept(tmp_path):
    """A writer in another PID namespace or on another machine sharing the folder: its pid means nothing
    here, but its lock does."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid that no longer runs
    locked = tmp_path / f".out.txt.{dead.pid}.abcdefgh.tmp"
    locked.write_text("someone else's")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys; f = open(sys.argv[1]); fcntl.flock(f, fcntl.LOCK_EX);"
            " print('ready', flush=True); sys.stdin.readline()",
            str(locked),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "ready\n"
        fileio.write_atomic(tmp_path / "out.txt", "mine")
        assert locked.exists()
    finally:
        holder.kill()
        holder.wait()
    fileio.write_atomic(tmp_path / "out.txt", "mine again")  # the lock is gone with its holder
    assert not locked.exists()


def test_only_the_targets_own_temporary_files_of_dead_writers_are_removed(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    kept = [
        ".out.txt.abcdefgh.tmp",  # an older graphdiff's name: no pid, so nobody can tell
        f".out.txt.bak.{dead.pid}.abcdefgh.tmp",  # another target's (out.txt.bak)
        f".out.txt.{os.getppid()}.abcdefgh.tmp",  # a live process's (this test's parent)
        f".out.txt.{dead.pid}.abcdefgh.tmp.keep",
        f"out.txt.{dead.pid}.abcdefgh.tmp",
    ]
    for name in kept:
        (tmp_path / name).write_text("not ours to remove")
    (tmp_path / "elsewhere").write_text("precious")
    os.symlink("elsewhere", tmp_path / f".out.txt.{dead.pid}.linkxxxx.tmp")  # a link is never followed
    kept.append(f".out.txt.{dead.pid}.linkxxxx.tmp")
    stale = tmp_path / f".out.txt.{dead.pid}.abcdefgh.tmp"
    stale.write_text("left by a killed writer")
    assert fileio.remove_stale_temporaries(tmp_path / "out.txt") == [stale]
    assert sorted(os.listdir(tmp_path)) == sorted([*kept, "elsewhere"])
    assert (tmp_path / "elsewhere").read_text() == "precious"


def test_temporary_names_of_long_file_names_stay_within_the_limit(tmp_path):
    name = "n" * 250 + ".json"  # a legal name; ".NAME.PID.XXXXXXXX.tmp" would be too long for it
    fileio.write_atomic(tmp_path / name, "{}")
    assert sorted(os.listdir(tmp_path)) == [name]


def test_ctrl_c_in_a_library_write_folder_leaves_nothing(tmp_path):
    (tmp_path / "keep").write_text("x")
    before = snapshot(tmp_path)

    def build(out: fileio.FolderWriter) -> None:
        out.write("a.txt", "a")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fileio.write_folder(tmp_path / "new" / "folder", build)
    assert snapshot(tmp_path) == before


def test_the_cli_in_process_reports_a_refused_folder_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "steps").mkdir()
    (tmp_path / "steps" / "index.html").write_text("<p>my page</p>")
    write_spec(tmp_path, "circuit.json", circuit_spec())
    code = main(["render", "circuit.json", *FEED, "--steps", "steps", "--force"])
    err = capsys.readouterr().err
    assert code == 2
    assert problem_lines(err) == [
        "steps/index.html: was not written by graphdiff; refusing to replace the folder steps, "
        "even with --force"
    ]
