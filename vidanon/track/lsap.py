"""The tracker's matcher: scipy's ``linear_sum_assignment`` (the Hungarian method, as
Jonker-Volgenant's shortest augmenting paths), loaded without ``scipy.optimize``.

Importing ``scipy.optimize`` imports most of scipy (linalg, sparse, special...): a third of a
second of every run's start on 2 cores, for one function. That function is scipy's compiled
``scipy.optimize._lsap`` module, which needs only NumPy: :func:`linear_sum_assignment` loads
that file alone, registered under its own name (a later ``import scipy.optimize`` then uses
the same module), and falls back to the plain import if the file is not where this scipy
version keeps it.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from pathlib import Path

MODULE = "scipy.optimize._lsap"

_function = None


def _load_alone():
    """The compiled module, loaded by its file; None when it cannot be."""
    scipy = importlib.util.find_spec("scipy")
    if scipy is None or not scipy.submodule_search_locations:
        return None
    folder = Path(next(iter(scipy.submodule_search_locations))) / "optimize"
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = folder / f"_lsap{suffix}"
        if path.is_file():
            spec = importlib.util.spec_from_file_location(MODULE, path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            sys.modules.setdefault(MODULE, module)
            return module
    return None


def linear_sum_assignment(cost):
    """``scipy.optimize.linear_sum_assignment(cost)``: the rows and columns of a minimum-cost
    matching."""
    global _function
    if _function is None:
        module = sys.modules.get(MODULE)
        if module is None:
            try:
                module = _load_alone()
            except Exception:  # noqa: BLE001 - any surprise: the plain import below
                module = None
        if module is None or not callable(getattr(module, "linear_sum_assignment", None)):
            from scipy.optimize import linear_sum_assignment as function
        else:
            function = module.linear_sum_assignment
        _function = function
    return _function(cost)
