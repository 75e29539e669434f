"""No op lets anything but a GraphdiffError out of `run` for input that passed validation.

Every row of the op table is fed hostile values of the shapes it validated with: floats from the edges of
the float64 range (0, -0, +-inf, nan, +-1e308, +-1e-308), integers far outside any index range, random
bools. The run may succeed (with inf or nan values, as numpy would give them) or refuse the data with a
graphdiff error naming the node; a numpy IndexError, ValueError, TypeError or OverflowError escaping is a bug.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from op_cases import CASES

import graphdiff as gd
from graphdiff.ops import REGISTRY

SPECIALS = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e308, -1e308, 1e-308, -1e-308, 1.0, -1.0, 0.5])
INTEGERS = np.array([0, 1, -1, 2**31, -(2**31), 2**62, -(2**62), 7, -7, 1000])


def hostile(rng: np.random.Generator, like: np.ndarray) -> np.ndarray:
    if like.dtype == np.bool_:
        return rng.integers(0, 2, size=like.shape).astype(bool)
    if like.dtype == np.int64:
        return rng.choice(INTEGERS, size=like.shape).astype(np.int64)
    mixed = np.where(rng.random(like.shape) < 0.5, rng.choice(SPECIALS, size=like.shape), like)
    return np.asarray(mixed, dtype=like.dtype)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.op) for c in CASES])
@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1))
def test_hostile_values_give_a_result_or_a_graphdiff_error(case, seed):
    rng = np.random.default_rng(seed)
    family = case.families[seed % len(case.families)]
    inputs = case.make_inputs(np.random.default_rng(seed), family)
    op = REGISTRY[case.op]
    g = gd.Graph("hostile")
    leaves = [
        g.input(name, value=value, dtype=str(value.dtype))
        for name, value in zip(op.input_names_for(len(inputs)), inputs, strict=True)
    ]
    out = g.apply(case.op, *leaves, id="out", **family.attrs)
    if case.differentiable:
        g.set_loss(out if out.shape == () else gd.sum(out))
    else:
        g.add_output(out)
    feeds = {leaf.id: hostile(rng, value) for leaf, value in zip(leaves, inputs, strict=True)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # inf and nan arithmetic is allowed to warn
        try:
            g.run(feeds) if case.differentiable else g.forward(feeds)
        except gd.GraphdiffError as exc:
            assert '"out"' in str(exc) or "feed" in str(exc), f"the error should name the node: {exc}"
