"""The tracker's matcher: scipy's assignment, loaded without importing scipy.optimize."""

import subprocess
import sys

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment as scipy_lsa

from vidanon.track import lsap


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (7, 4), (40, 40)])
def test_same_matching_as_scipy(shape):
    rng = np.random.default_rng(sum(shape))
    cost = rng.random(shape)
    cost[rng.random(shape) < 0.3] = 1e6  # gated pairs, as the tracker writes them
    rows, cols = lsap.linear_sum_assignment(cost)
    want_rows, want_cols = scipy_lsa(cost)
    np.testing.assert_array_equal(rows, want_rows)
    np.testing.assert_array_equal(cols, want_cols)


def test_falls_back_to_the_plain_import(monkeypatch):
    monkeypatch.setattr(lsap, "_function", None)
    monkeypatch.setattr(lsap, "_load_alone", lambda: None)
    monkeypatch.delitem(sys.modules, lsap.MODULE, raising=False)
    rows, cols = lsap.linear_sum_assignment(np.array([[5.0, 1.0], [1.0, 5.0]]))
    assert rows.tolist() == [0, 1] and cols.tolist() == [1, 0]


def test_tracking_does_not_import_scipy_optimize():
    """A third of a second of every start (the tracker's only use of it is this function)."""
    code = (
        "import sys, numpy as np\n"
        "from vidanon.detections import Detections\n"
        "from vidanon.track import SortTracker\n"
        "t = SortTracker(threshold=0.4)\n"
        "box = np.array([[0.1, 0.1, 0.2, 0.2], [0.5, 0.5, 0.6, 0.6]])\n"
        "for i in range(5):\n"
        "    list(t.push(i, Detections(box + 0.01 * i, np.array([0.9, 0.8]), np.zeros(2, int))))\n"
        "assert 'scipy.optimize._lsap' in sys.modules, 'the matcher was not used'\n"
        "print(sorted(m for m in sys.modules if m.startswith('scipy')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "'scipy.optimize'" not in out, out
