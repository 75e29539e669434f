"""Leaf values stored in .npy / .npz files beside the spec: read when safe, refused otherwise, each refusal
naming the spec file, the leaf and the array file. Nothing is unpickled, nothing outside the spec's folder
is read, and a header cannot make graphdiff allocate what the file does not hold."""

from __future__ import annotations

import json
import os
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import problems_of, write_spec

import graphdiff as gd

SPEC = "spec.json"


def spec_with_file(
    value: dict[str, Any], *, shape: list[Any] | None = None, dtype: str = "float64", kind: str = "parameter"
) -> dict[str, Any]:
    leaf = {"id": "w", "kind": kind, "dtype": dtype, "shape": [3] if shape is None else shape, "value": value}
    return {"format_version": 1, "name": "files", "leaves": [leaf], "outputs": ["w"]}


@pytest.fixture
def folder(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "w.npy", np.array([1.0, 2.0, 3.0]))
    np.savez(tmp_path / "w.npz", w=np.array([4.0, 5.0, 6.0]), labels=np.array([0, 1, 2]))
    return tmp_path


def load(spec: dict[str, Any], **kwargs: Any) -> gd.Graph:
    write_spec(Path.cwd(), SPEC, spec)
    return gd.load(SPEC, **kwargs)


def refusal(spec: dict[str, Any], array_file: str, **kwargs: Any) -> str:
    """Load ``spec``, expect a refusal naming the spec file, leaf "w" and ``array_file``; the message."""
    with pytest.raises(gd.SpecError) as info:
        load(spec, **kwargs)
    (line,) = problems_of(info.value)
    assert line.startswith(f'{SPEC}: leaves[0] "w": value.file: {array_file}'), line
    return line


# --- what loads -----------------------------------------------------------------------------------------


def test_npy_file_values_load(folder):
    graph = load(spec_with_file({"file": "w.npy"}))
    value = graph.forward().value("w")
    np.testing.assert_array_equal(value, [1.0, 2.0, 3.0])
    assert value.dtype == np.float64


def test_npz_file_values_load_by_key(folder):
    graph = load(spec_with_file({"file": "w.npz", "key": "w"}))
    np.testing.assert_array_equal(graph.forward().value("w"), [4.0, 5.0, 6.0])


def test_int64_labels_load_from_npz_and_int_arrays_widen_to_float(folder):
    labels = load(spec_with_file({"file": "w.npz", "key": "labels"}, dtype="int64", kind="constant"))
    np.testing.assert_array_equal(labels.forward().value("w"), [0, 1, 2])
    assert labels.forward().value("w").dtype == np.int64
    widened = load(spec_with_file({"file": "w.npz", "key": "labels"}))
    assert widened.forward().value("w").dtype == np.float64


def test_files_in_a_subfolder_load(folder):
    (folder / "data").mkdir()
    np.save(folder / "data" / "v.npy", np.arange(3.0))
    graph = load(spec_with_file({"file": "data/v.npy"}))
    np.testing.assert_array_equal(graph.forward().value("w"), [0.0, 1.0, 2.0])


def test_an_input_default_from_a_file_binds_its_symbolic_shape(folder):
    np.save(folder / "X.npy", np.ones((4, 2)))
    graph = load(spec_with_file({"file": "X.npy"}, shape=["N", 2], kind="input"))
    assert graph.forward().value("w").shape == (4, 2)


def test_fortran_order_arrays_load_with_the_right_values(folder):
    array = np.asfortranarray(np.arange(6.0).reshape(2, 3))
    np.save(folder / "f.npy", array)
    graph = load(spec_with_file({"file": "f.npy"}, shape=[2, 3]))
    np.testing.assert_array_equal(graph.forward().value("w"), array)


# --- what is refused --------------------------------------------------------------------------------------


def test_absolute_path_is_refused(folder):
    path = str(folder / "w.npy")
    assert "relative" in refusal(spec_with_file({"file": path}), path)


@pytest.mark.parametrize("path", ["../w.npy", "sub/../w.npy", "sub/../../w.npy"])
def test_path_with_dotdot_is_refused(path, folder):
    (folder / "sub").mkdir()
    assert "'..'" in refusal(spec_with_file({"file": path}), path)


def test_backslash_paths_are_refused(folder):
    assert "relative" in refusal(spec_with_file({"file": "sub\\w.npy"}), "sub\\w.npy")


def test_symlink_to_a_valid_npy_is_refused(folder):
    os.symlink(folder / "w.npy", folder / "link.npy")
    assert "symbolic link" in refusal(spec_with_file({"file": "link.npy"}), "link.npy")


def test_symlinked_folder_is_refused(folder):
    (folder / "real").mkdir()
    np.save(folder / "real" / "v.npy", np.arange(3.0))
    os.symlink(folder / "real", folder / "linked")
    assert "symbolic link" in refusal(spec_with_file({"file": "linked/v.npy"}), "linked/v.npy")


def test_directory_is_refused(folder):
    (folder / "dir.npy").mkdir()
    assert "not a regular file" in refusal(spec_with_file({"file": "dir.npy"}), "dir.npy")


def test_missing_file_is_refused(folder):
    assert "no such file" in refusal(spec_with_file({"file": "nope.npy"}), "nope.npy")


def test_npz_without_the_key_is_refused_listing_its_arrays(folder):
    line = refusal(spec_with_file({"file": "w.npz", "key": "v"}), "w.npz")
    assert "no array 'v' in the file (it has: w, labels)" in line


def test_npz_without_a_key_field_is_refused(folder):
    assert 'name one with "key"' in refusal(spec_with_file({"file": "w.npz"}), "w.npz")


def test_npy_with_a_key_is_refused(folder):
    assert "remove the key" in refusal(spec_with_file({"file": "w.npy", "key": "w"}), "w.npy")


class Trap:
    """Unpickling this creates a file: proof that a pickle was loaded."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def test_object_dtype_is_refused_without_unpickling(folder):
    trap = folder / "unpickled"
    np.save(folder / "obj.npy", np.array([Trap(str(trap)), 1, 2], dtype=object), allow_pickle=True)
    line = refusal(spec_with_file({"file": "obj.npy"}), "obj.npy")
    assert "not a plain numeric type" in line
    assert not trap.exists()


def test_object_dtype_inside_npz_is_refused_without_unpickling(folder):
    trap = folder / "unpickled"
    np.savez(folder / "obj.npz", w=np.array([Trap(str(trap)), 1, 2], dtype=object))
    line = refusal(spec_with_file({"file": "obj.npz", "key": "w"}), "obj.npz")
    assert "not a plain numeric type" in line
    assert not trap.exists()


@pytest.mark.parametrize(
    "array",
    [
        np.zeros(3, dtype=[("a", "f8")]),
        np.array(["a", "b", "c"]),
        np.zeros(3, dtype=np.complex128),
        np.zeros(3, dtype="datetime64[s]"),
    ],
    ids=["structured", "strings", "complex", "datetime"],
)
def test_non_numeric_dtypes_are_refused(array, folder):
    np.save(folder / "odd.npy", array)
    assert "not a plain numeric type" in refusal(spec_with_file({"file": "odd.npy"}), "odd.npy")


def test_truncated_npy_is_refused(folder):
    data = (folder / "w.npy").read_bytes()
    (folder / "short.npy").write_bytes(data[:-5])
    assert "19 bytes of data" in refusal(spec_with_file({"file": "short.npy"}), "short.npy")


def test_npy_with_trailing_bytes_is_refused(folder):
    (folder / "long.npy").write_bytes((folder / "w.npy").read_bytes() + b"extra")
    assert "29 bytes of data" in refusal(spec_with_file({"file": "long.npy"}), "long.npy")


def huge_npy(path: Path, shape: tuple[int, ...]) -> None:
    """A 128-byte .npy whose header declares ``shape`` float64 and holds no data at all."""
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': " + repr(shape) + ", }"
    header = header.ljust(128 - 10 - 1) + "\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode("latin1"))
    assert path.stat().st_size == 128


@pytest.mark.parametrize(
    ("max_elements", "expected"),
    [(None, "exceed the limit"), (10**15, "holds 0 bytes of data")],
    ids=["over-the-cap", "cap-raised"],
)
def test_huge_declared_shape_is_refused_quickly_without_allocating(max_elements, expected, folder):
    huge_npy(folder / "huge.npy", (10**12,))
    spec = spec_with_file({"file": "huge.npy"}, shape=["N"], kind="input")
    kwargs = {} if max_elements is None else {"max_elements": max_elements}
    start = time.perf_counter()
    line = refusal(spec, "huge.npy", **kwargs)
    assert time.perf_counter() - start < 1.0
    assert expected in line


def test_shape_mismatch_with_the_declared_leaf_shape_is_refused(folder):
    line = refusal(spec_with_file({"file": "w.npy"}, shape=[4]), "w.npy")
    assert "the file holds shape (3,), the spec declares (4,)" in line


def test_float64_file_for_an_int64_leaf_is_refused(folder):
    line = refusal(spec_with_file({"file": "w.npy"}, dtype="int64", kind="constant"), "w.npy")
    assert "dtype float64 cannot be read as int64 without loss" in line


def test_float64_file_for_a_float32_leaf_is_refused(folder):
    line = refusal(spec_with_file({"file": "w.npy"}, dtype="float32", kind="constant"), "w.npy")
    assert "cannot be read as float32 without loss" in line


def test_file_with_more_elements_than_max_elements_is_refused(folder):
    np.save(folder / "big.npy", np.zeros(11))
    spec = spec_with_file({"file": "big.npy"}, shape=[11])
    assert "11 elements exceed the limit of 10" in refusal(spec, "big.npy", max_elements=10)
    assert load(spec, max_elements=11).forward().value("w").shape == (11,)


def test_other_suffixes_are_refused(folder):
    (folder / "w.txt").write_bytes((folder / "w.npy").read_bytes())
    assert "must end in .npy or .npz" in refusal(spec_with_file({"file": "w.txt"}), "w.txt")


def test_random_bytes_named_npy_are_refused(folder):
    (folder / "random.npy").write_bytes(np.random.default_rng(0).bytes(200))
    assert "not a readable array file" in refusal(spec_with_file({"file": "random.npy"}), "random.npy")


def test_empty_npy_is_refused(folder):
    (folder / "empty.npy").write_bytes(b"")
    assert "not a readable array file" in refusal(spec_with_file({"file": "empty.npy"}), "empty.npy")


@pytest.mark.parametrize("damage", ["truncate", "scramble-tail", "flip-data"])
def test_corrupted_npz_is_refused(damage, folder):
    data = bytearray((folder / "w.npz").read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "scramble-tail":
        data[40:] = np.random.default_rng(1).bytes(len(data) - 40)
    else:  # flip bytes of the stored array: the zip is intact, its checksum is not
        with zipfile.ZipFile(folder / "w.npz") as archive:
            info = archive.getinfo("w.npy")
        local = info.header_offset
        name_length = int.from_bytes(data[local + 26 : local + 28], "little")
        extra_length = int.from_bytes(data[local + 28 : local + 30], "little")
        end = local + 30 + name_length + extra_length + info.file_size
        assert data[end - 8 : end] == np.float64(6.0).tobytes()  # the last element of w
        data[end - 8 : end] = b"\xff" * 8
    (folder / "bad.npz").write_bytes(bytes(data))
    line = refusal(spec_with_file({"file": "bad.npz", "key": "w"}), "bad.npz")
    assert "not a readable array file" in line
    if damage == "flip-data":
        assert "CRC" in line


def test_array_files_from_a_spec_without_folder_are_refused():
    text = json.dumps(spec_with_file({"file": "w.npy"}))
    with pytest.raises(gd.SpecError) as info:
        gd.loads(text, label="inline")
    assert "array files need a spec read from disk" in str(info.value)
