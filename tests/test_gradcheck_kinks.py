"""The gradient check at kinks: a centered difference that straddles one is not counted as a failure, and
a wrong gradient at a smooth point still fails."""

from __future__ import annotations

import numpy as np

import graphdiff as gd
from graphdiff.gradcheck import Comparison, _summarize


def relu_sum(x0: list[float]) -> gd.Graph:
    g = gd.Graph("relu_sum")
    x = g.parameter("x", np.array(x0))
    g.set_loss(g.apply("sum", g.apply("relu", x, id="r"), id="L"))
    return g


def test_a_relu_exactly_at_its_kink_is_counted_not_failed():
    report = gd.check_gradients(relu_sum([0.0, 0.5, -0.5]))
    (row,) = report.rows
    assert report.passed and row.at_kinks == 1 and row.checked == 3
    assert "1 within h of a kink" in report.table()
    assert "(1 at a kink)" in report.table()


def test_a_kink_a_little_further_than_h_is_checked_as_usual():
    report = gd.check_gradients(relu_sum([2e-5, 0.5]))
    assert report.passed and report.rows[0].at_kinks == 0


def smooth(analytic: float, x: float = 0.7, h: float = 1e-5) -> Comparison:
    """f = x^3 around x: one-sided slopes agree to h f''."""
    return Comparison(analytic, (x + h) ** 3, (x - h) ** 3, x**3, h, (0,))


def test_a_wrong_gradient_at_a_smooth_point_still_fails():
    assert not smooth(3 * 0.7**2).at_kink()
    assert _summarize("x", 1, [smooth(3 * 0.7**2)], 1e-4, 1e-6).passed
    wrong = _summarize("x", 1, [smooth(1.1 * 3 * 0.7**2)], 1e-4, 1e-6)
    assert not wrong.passed and wrong.at_kinks == 0


def test_a_kink_between_the_steps_is_told_from_curvature():
    h = 1e-5
    kink = Comparison(0.0, 1.0 * h, 0.0, 0.0, h, (0,))  # relu at 0: slopes 1 and 0
    assert kink.at_kink()
    steep = Comparison(1.0, 1.0 * h + 1e-12, -1.0 * h + 1e-12, 0.0, h, (0,))  # a smooth slope of 1
    assert not steep.at_kink()
    noise = Comparison(0.0, 1.0 + 4.4e-16, 1.0, 1.0, h, (0,))  # round-off of a loss of 1 is no kink
    assert not noise.at_kink()
