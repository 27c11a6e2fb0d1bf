"""Measurements behind the classifiers' defaults (run by hand; nothing imports this module).

Usage (one CPU thread, as the numbers in :mod:`modgen.classify.softmax` were taken)::

    OMP_NUM_THREADS=1 python benchmarks/classifiers.py spread [--params '{"steps": 300}'] [--hard]
    OMP_NUM_THREADS=1 python benchmarks/classifiers.py grid
    OMP_NUM_THREADS=1 python benchmarks/classifiers.py svm
    python benchmarks/classifiers.py --smoke   # all three at small sizes: a smoke test

The stand-in for generator features (none are available without a trained generator): the
unseen digits 4, 5, 6 of :func:`modgen.data.digits.load_digits_zsl` (8x8 pixels / 16). Each
class's 100 "synthetic" samples are drawn from a diagonal Gaussian around the class's mean
pixel vector, moved towards the mean of the three classes by ``shrink`` (a generator that
confuses the classes), with ``noise`` times the class's per-pixel standard deviation; the test
set is every real image of the three classes (per-class mean top-1, as ZSL). ``--hard`` is
``noise=2, shrink=0.85`` (where the old 20 epochs spread most), the default ``noise=1,
shrink=0.85``. The data do not depend on the classifier's ``random_state``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from sklearn.base import clone


def stand_in(noise: float, shrink: float, seed: int = 0) -> tuple[np.ndarray, ...]:
    """``(X_train (300, 64), y_train, X_test, y_test)`` for the digits 4, 5, 6 (see the module doc)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    X, y = (digits.data / 16.0).astype(np.float32), digits.target
    classes = (4, 5, 6)
    keep = np.isin(y, classes)
    rng = np.random.default_rng(seed)
    Xs, ys = [], []
    for c in classes:
        real = X[y == c]
        centre = (1 - shrink) * real.mean(0) + shrink * X[keep].mean(0)
        Xs.append(centre + noise * real.std(0) * rng.normal(size=(100, X.shape[1])))
        ys.append(np.full(100, c))
    return np.concatenate(Xs).astype(np.float32), np.concatenate(ys), X[keep], y[keep]


def per_class_top1(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean([np.mean(pred[y == c] == c) for c in np.unique(y)]))


def _timed(fn: Callable[..., Any], *args: Any, repeat: int = 3, **kwargs: Any) -> tuple[float, Any]:
    """Best wall time of ``repeat`` calls ``fn(*args, **kwargs)``, and the last result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    return best, out


def _loop(est: Any, points: list[dict[str, Any]], X: Any, y: Any, w: Any) -> list[Any]:
    return [clone(est).set_params(**p).fit(X, y, sample_weight=w) for p in points]


def spread(params: dict[str, Any], hard: bool, seeds: int = 10, **_: Any) -> None:
    """Mean/std/range of ZSL top-1 over ``random_state`` 0..seeds-1, and the mean fit time."""
    from modgen.classify import SoftmaxClassifier

    X, y, X_test, y_test = stand_in(2.0 if hard else 1.0, 0.85)
    accs, times = [], []
    for rs in range(seeds):
        start = time.perf_counter()
        clf = SoftmaxClassifier(device="cpu", random_state=rs, **params).fit(X, y)
        times.append(time.perf_counter() - start)
        accs.append(100 * per_class_top1(y_test, clf.predict(X_test)))
    a = np.array(accs)
    print(
        f"{'hard' if hard else 'default'} stand-in, {params}: ZSL top-1 mean {a.mean():.2f} std {a.std():.2f} "
        f"range {a.min():.1f}-{a.max():.1f}; fit {1000 * np.mean(times):.0f} ms"
    )


def grid(small: bool = False, **_: Any) -> None:
    """``fit_grid`` against the loop of fits at the default selection grids (best of 2 runs each;
    ``small``: a tenth of the samples, 64-d instead of 2048-d features, 20 softmax steps and SVM
    iterations, one run each)."""
    from modgen.classify import LinearSVMClassifier, SoftmaxClassifier, WeightedSoftmaxClassifier, fit_grid

    rng = np.random.default_rng(0)
    X, y, _, _ = stand_in(2.0, 0.85)
    # GZSL-like: 10 classes x 300 samples of the 64-d digits stand-in (minibatches)
    n_gzsl, n_svm, dim = (30, 10, 64) if small else (300, 100, 2048)
    centres = rng.uniform(0, 1, size=(10, 64)).astype(np.float32)
    Xg = np.concatenate([c + 0.5 * rng.normal(size=(n_gzsl, 64)) for c in centres]).astype(np.float32)
    yg = np.repeat(np.arange(10), n_gzsl)
    # feature-sized SVM problem: 10 classes x 100 samples of 2048-d non-negative features
    yf = np.repeat(np.arange(10), n_svm)
    Xf = np.maximum(0, rng.normal(size=(10, dim))[yf] + 0.8 * rng.normal(size=(10 * n_svm, dim))).astype(
        np.float32
    )
    steps, iters = ({"steps": 20}, {"max_iter": 20}) if small else ({}, {})
    cases = [
        ("softmax zsl 300x64", SoftmaxClassifier(device="cpu", **steps), X, y),
        (f"weighted-softmax gzsl {10 * n_gzsl}x64", WeightedSoftmaxClassifier(device="cpu", **steps), Xg, yg),
        ("svm zsl 300x64", LinearSVMClassifier(device="cpu", **iters), X, y),
        (f"svm gzsl {10 * n_gzsl}x64", LinearSVMClassifier(device="cpu", **iters), Xg, yg),
        (f"svm {10 * n_svm}x{dim}", LinearSVMClassifier(device="cpu", **iters), Xf, yf),
    ]
    repeat = 1 if small else 2
    for name, est, Xc, yc in cases:
        ((key, values),) = est.selection_grid.items()
        points = [{key: v} for v in values]
        w = rng.uniform(0.2, 1.0, size=len(yc))
        _loop(est, points[:1], Xc, yc, w)  # warm-up (first-call costs of torch and sklearn)
        loop_s, loop = _timed(_loop, est, points, Xc, yc, w, repeat=repeat)
        grid_s, fits = _timed(fit_grid, est, points, Xc, yc, sample_weight=w, repeat=repeat)
        agree = min(float((f.predict(Xc) == r.predict(Xc)).mean()) for f, r in zip(fits, loop, strict=True))
        print(
            f"{name}: {len(points)} points, loop {loop_s:.2f} s, fit_grid {grid_s:.2f} s, "
            f"speed-up {loop_s / grid_s:.2f}x, training predictions agree >= {agree:.4f}"
        )


def svm(small: bool = False, **_: Any) -> None:
    """Torch SVM on the stand-ins: iterations, time and accuracy next to LinearSVC (best of 3
    fits; ``small``: the default stand-in only, one fit)."""
    from modgen.classify import LinearSVMClassifier, SklearnLinearSVC

    repeat = 1 if small else 3
    for hard in (False,) if small else (False, True):
        X, y, X_test, y_test = stand_in(2.0 if hard else 1.0, 0.85)
        for C in LinearSVMClassifier.selection_grid["C"]:
            t_ours, ours = _timed(LinearSVMClassifier(C=C, device="cpu").fit, X, y, repeat=repeat)
            t_ref, ref = _timed(SklearnLinearSVC(C=C).fit, X, y, repeat=repeat)
            print(
                f"{'hard' if hard else 'default'} C={C}: torch SVM {ours.n_iter_} iterations "
                f"{1000 * t_ours:.0f} ms top-1 {100 * per_class_top1(y_test, ours.predict(X_test)):.2f}; "
                f"LinearSVC {1000 * t_ref:.0f} ms top-1 {100 * per_class_top1(y_test, ref.predict(X_test)):.2f}"
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "what", nargs="?", choices=("spread", "grid", "svm"), help="the measurement (--smoke: all three)"
    )
    parser.add_argument("--params", default="{}", help="SoftmaxClassifier parameters as JSON (spread)")
    parser.add_argument("--hard", action="store_true", help="noise=2 instead of 1 (spread)")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="the smallest run (spread over 2 seeds, grid at small sizes with 20 softmax steps and SVM "
        "iterations, svm on the default stand-in; one timing each): "
        "a check that this script runs, not a measurement",
    )
    args = parser.parse_args(argv)
    if args.what is None and not args.smoke:
        parser.error("say which measurement: spread, grid or svm (or --smoke for all three, small)")
    torch.set_num_threads(1)
    params = {"steps": 20, **json.loads(args.params)} if args.smoke else json.loads(args.params)
    run = {"spread": spread, "grid": grid, "svm": svm}
    for what in [args.what] if args.what else list(run):
        run[what](params=params, hard=args.hard, small=args.smoke, **({"seeds": 2} if args.smoke else {}))


if __name__ == "__main__":
    main()
