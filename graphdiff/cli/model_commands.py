"""The model commands: ``graphdiff import`` (ONNX in) and ``graphdiff export`` (ONNX out).

Both need the ``onnx`` extra; without it they say how to install it (exit code 2). :mod:`graphdiff.onnxio`
is imported when one of them runs, not to build the parser.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..api import load
from ..errors import printable
from ..fileio import check_writable, write_atomic, write_atomic_many
from ..ops import REGISTRY, format_shape
from ..ops.catalog import loss_ops
from .common import EXIT_OK, add_max_elements_option, examples, positive_int


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``import`` and ``export`` to the ``graphdiff`` parser."""
    importer = commands.add_parser(
        "import",
        help="import an ONNX model as a spec and its weights",
        description="Import an ONNX model (from torch.onnx.export, tf2onnx, skl2onnx, onnx.helper...) as a "
        "graph spec, with its weights in an .npz beside it; both are written as one change. Graph inputs "
        "become inputs (a dim_param a symbolic dimension), initializers parameters, nodes graphdiff ops. "
        "Every unsupported node is listed (exit code 2) and nothing is written. --loss appends a loss and "
        "its labels input, so grad, check, render and train work on the model at once.",
        epilog=examples(
            "graphdiff import lenet.onnx -o lenet.json",
            "graphdiff import lenet.onnx -o lenet.json --loss softmax_cross_entropy --labels y",
            "graphdiff import regressor.onnx -o reg.json --loss mse --target t --freeze",
        ),
    )
    importer.add_argument("model", metavar="MODEL", help="an ONNX model file (.onnx)")
    importer.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="SPEC",
        help="the spec to write (.json); weights go to SPEC.npz",
    )
    importer.add_argument(
        "--loss",
        metavar="OP",
        help="append this loss of the model's output: "
        + ", ".join(
            f"{name} ({'class labels' if REGISTRY[name].classifies else 'a target'})" for name in loss_ops()
        ),
    )
    importer.add_argument(
        "--labels",
        "--target",
        dest="labels",
        metavar="ID",
        help="the id of the labels (or target) input the loss adds (default: labels, or target)",
    )
    importer.add_argument(
        "--prediction", metavar="ID", help="the output the loss reads (default: the model's only output)"
    )
    importer.add_argument(
        "--freeze", action="store_true", help="make initializers constants instead of trainable parameters"
    )
    importer.add_argument("--name", help="the graph's name (default: the ONNX graph's)")
    importer.add_argument(
        "--max-bytes",
        type=positive_int,
        default=None,
        metavar="N",
        help="largest ONNX file read (default 1 GiB)",
    )
    add_max_elements_option(importer)
    importer.add_argument("--force", action="store_true", help="replace SPEC and SPEC.npz if they exist")
    importer.set_defaults(handler=cmd_import)

    exporter = commands.add_parser(
        "export",
        help="export a spec as an ONNX model",
        description="Export a graph spec as an ONNX model of standard ops that onnxruntime (or any ONNX "
        "runtime) runs. Symbolic dimensions become dim_params, parameters and constants initializers; the "
        "outputs and the loss are the model's outputs. The model passes onnx.checker (full check).",
        epilog=examples(
            "graphdiff export examples/digits_cnn.json -o digits_cnn.onnx",
            "graphdiff export examples/self_attention.json -o attention.onnx --opset 17",
        ),
    )
    exporter.add_argument("file", metavar="FILE", help="a graph spec (.json)")
    exporter.add_argument("-o", "--output", required=True, metavar="MODEL", help="the ONNX file to write")
    exporter.add_argument(
        "--opset", type=int, default=None, metavar="N", help="the ONNX opset to write, 17 to 21 (default 20)"
    )
    add_max_elements_option(exporter)
    exporter.add_argument("--force", action="store_true", help="replace MODEL if it exists")
    exporter.set_defaults(handler=cmd_export)


def cmd_import(args: argparse.Namespace) -> int:
    from ..onnxio import from_onnx, require_onnx

    require_onnx()
    from ..onnxio.files import spec_and_weights

    spec_path = Path(args.output)
    check_writable(spec_path, overwrite=args.force)
    check_writable(spec_path.with_suffix(".npz"), overwrite=args.force)
    graph = from_onnx(
        args.model,
        name=args.name,
        freeze=args.freeze,
        loss=args.loss,
        labels=args.labels,
        prediction=args.prediction,
        max_bytes=args.max_bytes,
        max_elements=args.max_elements,
    )
    files = spec_and_weights(graph, spec_path)
    written = write_atomic_many(files, overwrite=args.force)
    checked = graph.checked
    inputs = ", ".join(
        f"{id} {format_shape(checked.types[id].shape)} {checked.types[id].dtype}"
        for id in checked.ids_of_kind("input")
    )
    parameters = checked.ids_of_kind("parameter")
    weights = sum(checked.leaf_values[id].size for id in parameters)
    print(printable(f"wrote {' and '.join(str(p) for p in written)}"))
    print(
        printable(
            f"{len(checked.nodes)} nodes, {len(parameters)} parameters ({weights:,} weights); "
            f"inputs {inputs}; outputs {', '.join(checked.outputs)}"
            + (f"; loss {json.dumps(checked.loss)}" if checked.loss else "")
        )
    )
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from ..onnxio import require_onnx, to_onnx

    require_onnx()
    from ..onnxio.exporter import describe

    check_writable(args.output, overwrite=args.force)
    graph = load(args.file, max_elements=args.max_elements)
    model = to_onnx(graph, opset=args.opset)
    write_atomic(args.output, model.SerializeToString(), overwrite=args.force)
    print(printable(f"wrote {args.output}: {describe(model)}"))
    return EXIT_OK
