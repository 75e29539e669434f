"""The lab's pictures, as PNG bytes (matplotlib's object API on the Agg canvas: no pyplot, no global
state, no window). Callers write them with :func:`graphdiff.fileio.write_atomic`."""

from __future__ import annotations

import textwrap
from io import BytesIO

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from .compare import Comparison
from .landscape import Landscape
from .sweep import Sweep
from .train import TrainResult

_DPI = 100


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI, metadata={"Software": None})
    return buffer.getvalue()


def _log_if_wide(axes, values: np.ndarray) -> None:
    """Log scale on y when the positive values span more than a factor of 20."""
    finite = values[np.isfinite(values)]
    if finite.size and np.all(finite > 0) and finite.max() / finite.min() > 20:
        axes.set_yscale("log")


def loss_curve_png(result: TrainResult, title: str) -> bytes:
    """Loss per step (each batch, and the whole training and validation data at evaluations) and, for a
    classifier, accuracy."""
    history = result.history
    steps = np.array([r.step for r in history])
    has_accuracy = result.final.accuracy is not None
    figure = Figure(figsize=(10 if has_accuracy else 6.4, 4.2), layout="constrained")
    axes = figure.add_subplot(1, 2 if has_accuracy else 1, 1)
    batch = np.array([r.batch_loss for r in history])
    full_batch = result.config.batch_size is None
    axes.plot(
        steps,
        batch,
        color="tab:blue",
        alpha=1.0 if full_batch else 0.35,
        lw=1,
        label="training loss" if full_batch else "batch loss",
    )
    evaluated = [r for r in history if r.train_loss is not None]
    if evaluated and not full_batch:
        axes.plot(
            [r.step for r in evaluated],
            [r.train_loss for r in evaluated],
            color="tab:blue",
            lw=2,
            label="training loss (all data)",
        )
    if any(r.val_loss is not None for r in evaluated):
        axes.plot(
            [r.step for r in evaluated],
            [r.val_loss for r in evaluated],
            color="tab:orange",
            lw=2,
            label="validation loss",
        )
    if result.diverged_at is not None:
        axes.axvline(
            result.diverged_at, color="tab:red", ls="--", label=f"diverged at step {result.diverged_at}"
        )
    _log_if_wide(axes, batch)
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    axes.set_title("loss")
    axes.grid(True, alpha=0.3)
    axes.legend()
    if has_accuracy:
        right = figure.add_subplot(1, 2, 2)
        right.plot(
            [r.step for r in evaluated],
            [100 * r.train_accuracy for r in evaluated],
            color="tab:blue",
            lw=2,
            label="training",
        )
        if any(r.val_accuracy is not None for r in evaluated):
            right.plot(
                [r.step for r in evaluated],
                [100 * r.val_accuracy for r in evaluated],
                color="tab:orange",
                lw=2,
                label="validation",
            )
        right.set_xlabel("step")
        right.set_ylabel("accuracy (%)")
        right.set_ylim(0, 101)  # a line at 100% stays in view, not on the frame
        right.set_title("accuracy")
        right.grid(True, alpha=0.3)
        right.legend(loc="lower right")
    figure.suptitle(f"{title}: {result.config.method}, {result.config.schedule}")
    return _png(figure)


def sweep_png(sweep: Sweep, title: str) -> bytes:
    """Loss after one step along -grad against the step size (both on log scales)."""
    figure = Figure(figsize=(6.4, 4.4), layout="constrained")
    axes = figure.add_subplot()
    finite = np.isfinite(sweep.losses)
    axes.plot(
        sweep.step_sizes[finite], sweep.losses[finite], "o-", color="tab:blue", label="loss after one step"
    )
    axes.axhline(
        sweep.original_loss, color="gray", ls="--", label=f"loss before the step ({sweep.original_loss:.4g})"
    )
    best = sweep.best_step_size
    if best is not None:
        index = int(np.argmin(np.where(finite, sweep.losses, np.inf)))
        axes.plot(
            [best],
            [sweep.losses[index]],
            "o",
            ms=12,
            mfc="none",
            mec="tab:green",
            mew=2,
            label=f"best step size {best:.0e}",
        )
    axes.set_xscale("log")
    _log_if_wide(axes, np.append(sweep.losses, sweep.original_loss))
    axes.set_xlabel("step size (learning rate)")
    axes.set_ylabel("loss after W ← W − step · ∇L")
    axes.set_title(f"{title}: one step along the negative gradient")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    return _png(figure)


def landscape_png(landscape: Landscape, title: str) -> bytes:
    """A line plot (ray) or a heat map with contours (plane); blue is low loss, red high.

    The directions are d1 and d2 (the notes' W1 and W2, which are also parameter names, e.g. the spiral
    net's first layer); W is the point the slice goes through, every moved parameter at once."""
    moved = ", ".join(landscape.params)
    note = "; directions normalized" if landscape.normalized else ""
    if not landscape.is_plane:
        figure = Figure(figsize=(6.4, 4.4), layout="constrained")
        axes = figure.add_subplot()
        axes.plot(landscape.a, landscape.losses, color="tab:blue", lw=1.5)
        axes.axvline(0, color="gray", ls=":", lw=1)
        axes.plot(
            [0], [landscape.center_loss], "o", color="black", label=f"W (loss {landscape.center_loss:.4g})"
        )
        axes.set_xlabel("a (along direction d1: the point W + a·d1)")
        axes.set_ylabel("loss")
        axes.set_title(_title_lines(title, f"L(W + a·d1), moving {moved}{note}"), fontsize=11)
        axes.grid(True, alpha=0.3)
        axes.legend()
        return _png(figure)
    figure = Figure(figsize=(6.4, 5.2), layout="constrained")
    axes = figure.add_subplot()
    losses = landscape.losses
    finite = losses[np.isfinite(losses)]
    wide = finite.size > 0 and finite.min() > 0 and finite.max() / finite.min() > 100
    extent = (landscape.a[0], landscape.a[-1], landscape.b[0], landscape.b[-1])
    image = axes.imshow(
        losses.T,  # rows of the image are b, columns a
        origin="lower",
        extent=extent,
        aspect="auto",
        cmap="jet",
        norm=LogNorm() if wide else None,
        interpolation="nearest",
    )
    axes.contour(landscape.a, landscape.b, losses.T, levels=12, colors="white", linewidths=0.5, alpha=0.6)
    axes.plot([0], [0], "+", color="white", ms=12, mew=2)
    figure.colorbar(image, ax=axes, label="loss" + (" (log scale)" if wide else ""))
    axes.set_xlabel("a (along direction d1)")
    axes.set_ylabel("b (along direction d2)")
    axes.set_title(_title_lines(title, f"L(W + a·d1 + b·d2), moving {moved}{note}"), fontsize=10)
    return _png(figure)


#: Characters per title line: what fits above a 6.4-inch plot at 10-11 points with room to spare (the
#: constrained layout makes room for more lines, never for a wider one, which is clipped at the edges).
_TITLE_WIDTH = 70


def _title_lines(*parts: str) -> str:
    """The parts on lines of their own, each wrapped to :data:`_TITLE_WIDTH` characters."""
    return "\n".join(
        line for part in parts for line in textwrap.wrap(part, _TITLE_WIDTH, break_on_hyphens=False)
    )


def comparison_png(comparison: Comparison, title: str) -> bytes:
    """Each strategy's loss against evaluations spent."""
    figure = Figure(figsize=(6.8, 4.4), layout="constrained")
    axes = figure.add_subplot()
    values = []
    for outcome in comparison.outcomes:
        curve = outcome.curve
        axes.plot(
            np.arange(1, curve.size + 1),
            curve,
            lw=1.5,
            label=f"{outcome.strategy} (final {outcome.final.loss:.3g})",
        )
        values.append(curve)
    _log_if_wide(axes, np.concatenate(values) if values else np.array([]))
    axes.set_xlabel("loss evaluations (a gradient step counts as one)")
    axes.set_ylabel("loss (best so far for the searches)")
    what = "three strategies, one budget" if len(comparison.outcomes) > 1 else comparison.outcomes[0].strategy
    axes.set_title(f"{title}: {what}")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    return _png(figure)
