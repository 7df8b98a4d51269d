"""The CLI caps glibc's malloc arenas (decoding threads would each grow a heap of their own) unless the user's
MALLOC_ARENA_MAX says otherwise."""

from __future__ import annotations

import sys

import pytest

from vidclass.util.memory import cap_malloc_arenas


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_the_arena_cap_is_set_unless_the_environment_sets_one(monkeypatch):
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert cap_malloc_arenas() is True
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert cap_malloc_arenas() is False


def test_a_timeline_never_loads_matplotlib(tmp_path):
    """matplotlib (about 30 MB of a process) is imported where a figure is drawn, not by scoring or timelines:
    what `vidclass timeline` and `predict` import, and a model's probabilities calibrated, leave it out."""
    import subprocess

    code = ("import sys, numpy as np\n"
            "import vidclass.cli.inference, vidclass.use.predict, vidclass.estimator.classifier\n"
            "from vidclass.evaluation.calibration import calibrate_probabilities\n"
            "from vidclass.evaluation.metrics import evaluate_predictions\n"
            "calibrate_probabilities(np.zeros((2, 2)), 1.5)\n"
            "evaluate_predictions([0, 1], np.eye(2), ['a', 'b'], split='test')\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))\n")
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == "[]"
