"""The scripts in examples/ run end to end (as subprocesses, with shortened training)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
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


def _load_example(script: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"example_{Path(script).stem}", EXAMPLES / script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # defines its classes; main() runs only as a script
    return module


def test_custom_final_classifier_is_a_stratified_sklearn_classifier() -> None:
    """The example's classifier is a scikit-learn classifier: cross_val_score stratifies its folds,
    so labels sorted by class still give every fold every class (unstratified folds scored 0.0)."""
    from sklearn.base import is_classifier
    from sklearn.datasets import load_digits
    from sklearn.model_selection import StratifiedKFold, check_cv, cross_val_score

    clf = _load_example("custom_final_classifier.py").NearestMeanClassifier()
    X, y = load_digits(n_class=3, return_X_y=True)
    order = np.argsort(y, kind="stable")
    X, y = X[order] / 16.0, y[order]
    assert is_classifier(clf)
    assert isinstance(check_cv(5, y, classifier=is_classifier(clf)), StratifiedKFold)
    scores = cross_val_score(clf, X, y, cv=5)
    assert scores.min() > 0.8, scores
