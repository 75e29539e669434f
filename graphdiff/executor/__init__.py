"""The executor: a checked graph compiled once into a program, then run forward and backward.

- :mod:`.program`: the compiled program as data (slots, steps, what backward reads and what the
  memory-saving mode frees), printable (``graphdiff plan FILE``);
- :mod:`.interpreter`: the one forward loop and the one backward loop (the chain rule);
- :mod:`.batched` and :mod:`.floats`: fast paths for scalar graphs, with the interpreter's numbers;
- :mod:`.plan`: :func:`compile_plan` picks the path; :class:`Plan` runs it;
- :mod:`.feeds`: a run's leaf values, checked against the declared inputs.
"""

from .batched import BATCH_MIN_AVERAGE, BATCH_MIN_NODES, ScalarBatches, ScalarValues
from .feeds import bind_feeds, numbers_as
from .floats import ScalarSteps
from .interpreter import OWN_MIN_SIZE, Gradients, Interpreter, Trace
from .plan import Plan, compile_plan
from .program import BackwardProgram, BackwardStep, Program, Step

__all__ = [
    "BATCH_MIN_AVERAGE",
    "BATCH_MIN_NODES",
    "OWN_MIN_SIZE",
    "BackwardProgram",
    "BackwardStep",
    "Gradients",
    "Interpreter",
    "Plan",
    "Program",
    "ScalarBatches",
    "ScalarSteps",
    "ScalarValues",
    "Step",
    "Trace",
    "bind_feeds",
    "compile_plan",
    "numbers_as",
]
