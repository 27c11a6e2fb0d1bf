"""The scripts in examples/ run end to end (as subprocesses, with shortened training)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"

#: script -> (arguments that shorten its training, lines its output must contain)
CASES = {
    "modulator_in_own_loop.py": (["--steps", "60", "--device", "cpu"], ["step   60", "ZSL per-class top-1"]),
    "custom_final_classifier.py": (
        ["--episodes", "6", "--device", "cpu"],
        ["mine.nearest-mean", "ZSL top-1", "GZSL U", "by hand: nearest quality-weighted mean"],
    ),
    "numpy_features.py": (
        ["--episodes", "6", "--device", "cpu"],
        ["7 seen / 3 unseen classes", "weighted-svm"],
    ),
}


def test_every_example_is_tested() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(CASES)


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(CASES))
def test_example_runs(script: str, tmp_path: Path) -> None:
    args, expected = CASES[script]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "MPLBACKEND": "Agg",
    }
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        cwd=tmp_path,  # anything a script writes lands here
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for line in expected:
        assert line in proc.stdout, proc.stdout
    # modgen's results are in percent ("45.3%"); a script's own measurement may be a fraction
    percents = [float(x) for x in re.findall(r"top-1[^\n]*?(\d+\.\d)%", proc.stdout)]
    fractions = [float(x) for x in re.findall(r"top-1[^\n]*?(\d\.\d{3})$", proc.stdout, flags=re.M)]
    assert percents or fractions, proc.stdout
    assert all(0.0 <= a <= 100.0 for a in percents) and all(0.0 <= a <= 1.0 for a in fractions), proc.stdout
