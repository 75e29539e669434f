"""Generate graphdiff's ONNX import fixtures with PyTorch (float32, eval mode).

Run it with a Python that has torch 2.13, numpy, onnx, onnxruntime and onnxscript (never graphdiff's own
environment; the test suite never imports torch):

    /tmp/torchenv/bin/python tests/onnx_fixtures/generate.py

For each of five small models (``mlp``, ``lenet``, ``attention``, ``embedding``, ``batchnorm``) it
writes two files next to this script:

``<name>.onnx``
    The eval-mode model exported by ``torch.onnx.export(..., dynamo=True)`` at the exporter's default
    opset (20 with torch 2.13), with a dynamic batch dimension (axis 0, ``dim_param`` "batch") on the
    input and on ``logits``. Weights are stored inside the file (``external_data=False``); every
    trainable parameter is a plain initializer named after the torch parameter (e.g. ``fc1.weight``)
    holding exactly the parameter's values (checked here), and so are BatchNorm's running statistics.
    ``mlp``, ``lenet`` and ``embedding`` are exported with the exporter's optimizer on (the default);
    ``attention`` and ``batchnorm`` with ``optimize=False``, because the optimizer folds the
    ``Transpose`` of the 3-d ``Linear`` weights into new constants and fuses BatchNorm into the Conv
    (see :func:`export`). Those two files therefore also hold ``Constant`` nodes and a little
    unfolded shape arithmetic. The exporter's per-node stack traces (absolute paths) are removed; its
    other metadata is kept as written.

``<name>.npz``
    Plain ``np.savez`` arrays (no object arrays), computed by torch in float32 for a batch of N=3:

    - ``input/x`` (``input/tokens`` for ``embedding``, int64) and ``input/labels`` (int64);
    - ``output/logits``: ``model(x)``;
    - ``loss``: 0-d, ``torch.nn.functional.cross_entropy(logits, labels)`` (mean over the batch);
    - ``grad/<initializer name>``: d loss / d parameter, for every trainable parameter;
    - ``grad/x``: d loss / d x (float inputs only).

Every model is built under ``torch.manual_seed(0)`` and its inputs are drawn from a ``torch.Generator``
seeded per model; running the script again rewrites byte-identical files. Before it writes a model's
``.npz``, the script runs ``onnx.checker.check_model(..., full_check=True)`` on the ``.onnx`` and checks
that onnxruntime (CPUExecutionProvider) reproduces torch's logits for N=3 and for N=2 (so the batch
dimension really is dynamic) to rtol 1e-5, atol 1e-6. It prints what each exported graph holds (opset,
op types, inputs/outputs, initializers, shape-related nodes, every node with its attributes).
"""

from __future__ import annotations

import collections
import math
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

EXPECTED_TORCH = "2.13"
HERE = Path(__file__).resolve().parent
N_BATCH = 3
N_DYNAMIC_CHECK = 2
#: The exporter's default opset is kept if it lies in this range; otherwise FALLBACK_OPSET is requested.
OPSET_RANGE = range(13, 22)
FALLBACK_OPSET = 18
RTOL, ATOL = 1e-5, 1e-6
#: Per-node metadata the exporter writes with absolute paths in it; dropped from the saved files.
STACK_TRACE = "pkg.torch.onnx.stack_trace"
#: Op types that carry shape arithmetic (flatten, dynamic batch) or indexing: named in the report.
SHAPE_OPS = {"Shape", "Gather", "Concat", "Reshape", "Slice", "Squeeze", "Unsqueeze", "Flatten", "Expand"}

torch.set_num_threads(1)


# --- the models ---------------------------------------------------------------------------------------------


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(4, 16)
        self.fc2 = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.tanh(self.fc1(x)))


class LeNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(64, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # (N, 6, 8, 8)
        x = F.avg_pool2d(F.relu(self.conv2(x)), 2)  # (N, 16, 2, 2)
        x = torch.flatten(x, 1)  # (N, 64)
        return self.fc2(F.relu(self.fc1(x)))


class Attention(nn.Module):
    """Single-head self-attention written out by hand, then residual, LayerNorm, mean over T, a head."""

    def __init__(self, d: int = 8, n_classes: int = 3) -> None:
        super().__init__()
        self.d = d
        self.q = nn.Linear(d, d)
        self.k = nn.Linear(d, d)
        self.v = nn.Linear(d, d)
        self.proj = nn.Linear(d, d)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.q(x), self.k(x), self.v(x)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d)  # (N, T, T)
        attended = torch.softmax(scores, dim=-1) @ v  # (N, T, D)
        h = self.norm(self.proj(attended) + x)
        return self.head(h.mean(dim=1))


class EmbeddingBag(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(20, 8)
        self.head = nn.Linear(8, 4)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(tokens).mean(dim=1))


class ConvBatchNorm(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.head = nn.Linear(64, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn(self.conv(x)))  # (N, 4, 4, 4)
        return self.head(torch.flatten(x, 1))


def build_batchnorm() -> nn.Module:
    """BatchNorm with non-default affine values and running statistics that moved away from 0 and 1."""
    model = ConvBatchNorm()
    with torch.no_grad():
        model.bn.weight.copy_(torch.rand(4) + 0.5)
        model.bn.bias.copy_(0.5 * torch.randn(4))
        model.train()
        for _ in range(4):
            model(1.5 * torch.randn(8, 3, 6, 6) + 0.7)
    return model


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[], nn.Module]
    input_name: str
    #: The input's shape without the batch dimension.
    sample_shape: tuple[int, ...]
    n_classes: int
    #: None for float inputs (standard normal); otherwise int64 tokens drawn from range(vocab).
    vocab: int | None = None

    def make_inputs(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (n, *self.sample_shape)
        if self.vocab is None:
            x = torch.randn(shape, generator=gen, dtype=torch.float32)
        else:
            x = torch.randint(0, self.vocab, shape, generator=gen, dtype=torch.int64)
        labels = torch.randint(0, self.n_classes, (n,), generator=gen, dtype=torch.int64)
        return x, labels


CASES = [
    Case("mlp", MLP, "x", (4,), 3),
    Case("lenet", LeNet, "x", (1, 16, 16), 10),
    Case("attention", Attention, "x", (5, 8), 3),
    Case("embedding", EmbeddingBag, "tokens", (6,), 4, vocab=20),
    Case("batchnorm", build_batchnorm, "x", (3, 6, 6), 5),
]


# --- export and checks --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Exported:
    proto: onnx.ModelProto
    dynamic: bool
    optimize: bool


def export(model: nn.Module, x: torch.Tensor, case: Case, path: Path) -> Exported:
    """Export ``model`` to ``path``: dynamic batch if possible, and every parameter a plain initializer.

    The exporter's optimizer (``optimize=True``, the default) rewrites some parameters: it folds
    ``Transpose(weight)`` into a new constant when ``nn.Linear`` is applied to a 3-d input (attention),
    and fuses an eval-mode BatchNormalization into the Conv before it (batchnorm), so no initializer
    holds those parameters any more. Such a model is exported again with ``optimize=False``.

    The exported file is then saved again without the nodes' ``pkg.torch.onnx.stack_trace`` metadata:
    those hold this machine's absolute paths and this script's line numbers. Nothing else is changed.
    """
    for optimize in (True, False):
        dynamic = _export_once(model, x, case, path, optimize=optimize)
        proto = onnx.load(path)
        problems = initializer_problems(model, proto)
        if not problems:
            drop_stack_traces(proto)
            onnx.save(proto, path)
            data = path.read_bytes()
            assert b"site-packages" not in data and str(HERE).encode() not in data, f"{path}: local paths"
            return Exported(onnx.load(path), dynamic, optimize)
        for p in problems:
            print(f"  !! {case.name} (optimize={optimize}): parameter {p}")
    raise SystemExit(f"{case.name}: parameters are not plain initializers even with optimize=False")


def _export_once(model: nn.Module, x: torch.Tensor, case: Case, path: Path, *, optimize: bool) -> bool:
    """One export (dynamic batch, else static; default opset, else 18); True if the batch is dynamic."""

    def run(dynamic: bool, opset: int | None) -> None:
        torch.onnx.export(
            model,
            (x,),
            path,
            dynamo=True,
            input_names=[case.input_name],
            output_names=["logits"],
            dynamic_shapes=({0: torch.export.Dim("batch")},) if dynamic else None,
            opset_version=opset,
            external_data=False,
            optimize=optimize,
            verbose=False,
        )

    dynamic = True
    try:
        run(dynamic=True, opset=None)
    except Exception as exc:  # noqa: BLE001 - report and fall back, as documented
        print(f"  !! {case.name}: export with a dynamic batch failed ({exc!r}); exporting a static batch")
        dynamic = False
        run(dynamic=False, opset=None)
    opset = opset_of(onnx.load(path))
    if opset not in OPSET_RANGE:
        print(f"  !! {case.name}: default opset {opset} not in {OPSET_RANGE}; exporting at {FALLBACK_OPSET}")
        run(dynamic=dynamic, opset=FALLBACK_OPSET)
    stray = sorted(p.name for p in HERE.iterdir() if p.name.startswith(path.name) and p != path)
    assert not stray, f"{case.name}: the exporter wrote external data files {stray}"
    return dynamic


def drop_stack_traces(proto: onnx.ModelProto) -> None:
    """Remove the nodes' stack-trace metadata (absolute paths, line numbers); keep all other metadata."""
    for node in proto.graph.node:
        kept = [p for p in node.metadata_props if p.key != STACK_TRACE]
        del node.metadata_props[:]
        node.metadata_props.extend(kept)


def opset_of(proto: onnx.ModelProto) -> int:
    return next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))


def initializer_problems(model: nn.Module, proto: onnx.ModelProto) -> list[str]:
    """Parameters that are not an initializer of the same name holding exactly the same values."""
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer}
    problems = []
    for name, param in model.named_parameters():
        value = param.detach().numpy()
        if name not in inits:
            same = [n for n, v in inits.items() if np.array_equal(v, value)]
            transposed = [n for n, v in inits.items() if np.array_equal(v, value.T)]
            problems.append(
                f"{name}{list(value.shape)}: no initializer of that name"
                f" (equal values in: {same or 'none'}; its transpose in: {transposed or 'none'})"
            )
        elif not (inits[name].dtype == value.dtype and np.array_equal(inits[name], value)):
            init = inits[name]
            problems.append(f"{name}: initializer {init.dtype}{list(init.shape)} differs from the parameter")
    return problems


def report_buffers(model: nn.Module, proto: onnx.ModelProto) -> None:
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer}
    for name, buf in model.named_buffers():
        if name in inits:
            print(f"  buffer {name}: initializer {name!r}, equal: {np.array_equal(inits[name], buf.numpy())}")
        else:
            print(f"  buffer {name}: not in the graph")


def run_onnxruntime(path: Path, case: Case, x: torch.Tensor) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {case.input_name: x.numpy()})
    return logits


def torch_reference(model: nn.Module, case: Case, x: torch.Tensor, labels: torch.Tensor) -> dict[str, Any]:
    """The arrays of ``<name>.npz``: inputs, logits, mean cross-entropy loss and its gradients."""
    model.zero_grad(set_to_none=True)
    x = x.clone()
    if x.is_floating_point():
        x.requires_grad_(True)
    logits = model(x)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    arrays = {
        f"input/{case.input_name}": x.detach().numpy(),
        "input/labels": labels.numpy(),
        "output/logits": logits.detach().numpy(),
        "loss": loss.detach().numpy(),
    }
    for name, param in model.named_parameters():
        assert param.grad is not None, f"{case.name}: no gradient for {name}"
        arrays[f"grad/{name}"] = param.grad.numpy()
    if x.is_floating_point():
        arrays["grad/x"] = x.grad.numpy()
    for key, value in arrays.items():
        assert value.dtype in (np.float32, np.int64), f"{case.name}: {key} is {value.dtype}"
    return {k: np.array(v, copy=True) for k, v in arrays.items()}


# --- the report ---------------------------------------------------------------------------------------------


def _dims(value_info: onnx.ValueInfoProto) -> list[str]:
    shape = value_info.type.tensor_type.shape
    return [d.dim_param or (str(d.dim_value) if d.HasField("dim_value") else "?") for d in shape.dim]


def _shape(value_info: onnx.ValueInfoProto) -> str:
    dtype = onnx.helper.tensor_dtype_to_np_dtype(value_info.type.tensor_type.elem_type)
    return f"{dtype}[{', '.join(_dims(value_info))}]"


def _attribute(a: onnx.AttributeProto) -> object:
    value = onnx.helper.get_attribute_value(a)
    if isinstance(value, onnx.TensorProto):
        return onnx.numpy_helper.to_array(value).tolist()
    return value.decode() if isinstance(value, bytes) else value


def report(proto: onnx.ModelProto, path: Path, state_names: set[str]) -> None:
    """Print what the exported graph holds; small initializers that are not torch state show their values."""
    g = proto.graph
    print(f"  opset: {[(o.domain or 'ai.onnx', o.version) for o in proto.opset_import]}")
    print(f"  ir_version: {proto.ir_version}; producer: {proto.producer_name} {proto.producer_version}")
    counts = collections.Counter(n.op_type for n in g.node)
    print(f"  op types: {', '.join(f'{op} x{c}' for op, c in sorted(counts.items()))}")
    for kind, values in (("input", g.input), ("output", g.output)):
        for v in values:
            print(f"  graph {kind}: {v.name!r} {_shape(v)}")
    for t in g.initializer:
        value = onnx.numpy_helper.to_array(t)
        shown = f" = {value.tolist()}" if value.size <= 4 and t.name not in state_names else ""
        print(f"  initializer: {t.name!r} {value.dtype}{list(value.shape)}{shown}")
    shape_nodes = [n.name for n in g.node if n.op_type in SHAPE_OPS]
    print(f"  shape/index nodes: {shape_nodes or 'none'}")
    for n in g.node:
        attrs = {a.name: _attribute(a) for a in n.attribute}
        print(f"  node {n.name!r}: {n.op_type}({', '.join(n.input)}) -> {', '.join(n.output)}  {attrs or ''}")
    print(f"  value_info entries: {len(g.value_info)}; file size: {path.stat().st_size} bytes")


# --- main ---------------------------------------------------------------------------------------------------


def generate(case: Case) -> None:
    print(f"== {case.name}")
    torch.manual_seed(0)
    model = case.build().eval()
    gen = torch.Generator().manual_seed(zlib.crc32(case.name.encode()))
    x, labels = case.make_inputs(N_BATCH, gen)
    x2, _ = case.make_inputs(N_DYNAMIC_CHECK, gen)

    onnx_path = HERE / f"{case.name}.onnx"
    exported = export(model, x, case, onnx_path)
    proto, dynamic = exported.proto, exported.dynamic
    onnx.checker.check_model(proto, full_check=True)
    if dynamic:
        assert _dims(proto.graph.input[0])[0] == "batch" and _dims(proto.graph.output[0])[0] == "batch"
    print(f"  export: optimize={exported.optimize}; batch {'dynamic' if dynamic else 'STATIC'}")
    report_buffers(model, proto)

    arrays = torch_reference(model, case, x, labels)
    np.testing.assert_allclose(
        run_onnxruntime(onnx_path, case, x), arrays["output/logits"], rtol=RTOL, atol=ATOL, err_msg=case.name
    )
    if dynamic:
        with torch.no_grad():
            expected2 = model(x2).numpy()
        np.testing.assert_allclose(
            run_onnxruntime(onnx_path, case, x2), expected2, rtol=RTOL, atol=ATOL, err_msg=f"{case.name} N=2"
        )
    print("  onnxruntime matches torch" + (f" for N={N_BATCH} and N={N_DYNAMIC_CHECK}" if dynamic else ""))

    npz_path = HERE / f"{case.name}.npz"
    np.savez(npz_path, **arrays)
    with np.load(npz_path, allow_pickle=False) as loaded:
        assert sorted(loaded.files) == sorted(arrays)
    report(proto, onnx_path, set(model.state_dict()))
    print(f"  npz keys: {', '.join(f'{k}{list(v.shape)}' for k, v in arrays.items())}")


def main() -> None:
    if not torch.__version__.startswith(EXPECTED_TORCH):
        sys.exit(f"expected torch {EXPECTED_TORCH}.x, found {torch.__version__}")
    print(f"torch {torch.__version__}, onnx {onnx.__version__}, onnxruntime {ort.__version__}")
    for case in CASES:
        generate(case)
    written = {f"{case.name}{suffix}" for case in CASES for suffix in (".onnx", ".npz")}
    stray = sorted({p.name for p in HERE.iterdir()} - written - {Path(__file__).name})
    assert not stray, f"unexpected files in {HERE}: {stray}"
    for name in sorted(written):
        print(f"wrote {(HERE / name).relative_to(HERE.parent.parent)} ({(HERE / name).stat().st_size} bytes)")


if __name__ == "__main__":
    main()
