"""The systems compared, what each needs installed, and which workloads each can run."""

from __future__ import annotations

import importlib.util
import subprocess
from dataclasses import dataclass

#: Prints which of the modules named in argv it cannot find (in the Python that runs it).
_FIND = (
    "import importlib.util, sys; "
    "print(' '.join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))"
)


@dataclass(frozen=True)
class System:
    name: str
    label: str
    #: The modules that must be importable (checked without importing them).
    requires: tuple[str, ...]
    #: Only scalar workloads (micrograd has nothing but scalar Values).
    scalar_only: bool = False
    #: Its memory is numpy arrays and Python objects, which tracemalloc sees.
    traced: bool = False

    @property
    def module(self) -> str:
        return f"sys_{self.name}"

    def missing(self, python: str | None = None) -> list[str]:
        """The required modules that are not installed (in the interpreter ``python``, if given)."""
        if python is None:
            return [m for m in self.requires if importlib.util.find_spec(m) is None]
        try:
            done = subprocess.run(
                [python, "-c", _FIND, *self.requires], capture_output=True, text=True, timeout=60
            )
        except (OSError, subprocess.SubprocessError):
            return list(self.requires)
        return done.stdout.split() if done.returncode == 0 else list(self.requires)

    def runs(self, scalar_workload: bool) -> bool:
        return scalar_workload or not self.scalar_only


SYSTEMS: dict[str, System] = {
    s.name: s
    for s in (
        System("numpy", "numpy (by hand)", ("numpy",), traced=True),
        System("graphdiff", "graphdiff", ("graphdiff",), traced=True),
        System("torch", "torch", ("torch",)),
        System("jax", "jax (jit)", ("jax", "jaxlib")),
        System("micrograd", "micrograd", ("micrograd",), scalar_only=True, traced=True),
        System("autograd", "autograd", ("autograd",), traced=True),
    )
}
