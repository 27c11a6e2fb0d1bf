"""The closed-form floor on an embedded data set's ImageNet features (``features=imagenet``).

Loads the data set as ``modgen train --dataset D --set data.options.features=imagenet`` would
(the data set's preset, then the option; extraction runs once and is cached), and reports:

* the **validation view** (fit on the ``train`` classes, measured on the ``val`` classes): the
  per-class top-1 of the grid point the floor selects there (what selection sees), and of the
  fixed parameters benchmarks/science.py uses on that view (``gamma = lambda = alpha = 1``);
* the **ceilings** of the classifier-free measures: the nearest *real* class mean on both views;
* the **test split**: ESZSL and ridge as the pipeline reports them beside every run
  (:func:`modgen.baselines.floor_measurements`: selected on the validation classes, refitted on
  ``trainval``, ZSL top-1 among the unseen classes and GZSL U/S/H among all).

Usage:
    python benchmarks/probes/imagenet_floor.py --dataset digits
    python benchmarks/probes/imagenet_floor.py --dataset fashion-mnist --threads 2
    python benchmarks/probes/imagenet_floor.py --smoke   # digits through the random `tiny` backbone
"""

from __future__ import annotations

import argparse
import time
from typing import Any


def main(argv: list[str] | None = None) -> dict[str, Any]:
    import torch

    from modgen.baselines import closed_form_floor, fit_predict, floor_measurements
    from modgen.data import load_dataset
    from modgen.evaluate.metrics import per_class_top1
    from modgen.pipeline import resolve_spec
    from modgen.plugins import get_registries

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="digits", help="digits or fashion-mnist")
    p.add_argument("--backbone", default="efficientnet-lite0", help="a registered backbone")
    p.add_argument("--threads", type=int, default=1, help="torch threads for the extraction")
    p.add_argument("--set", dest="overrides", action="append", default=[], help="further --set KEY=VALUE")
    p.add_argument(
        "--smoke",
        action="store_true",
        help="digits through the random-weights `tiny` backbone (cached in a temporary folder): "
        "a check that this script runs, not a measurement",
    )
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.smoke:
        import os
        import tempfile

        args.dataset, args.backbone = "digits", "tiny"
        os.environ["MODGEN_CACHE"] = tempfile.mkdtemp(prefix="modgen-smoke-")
    registries = get_registries(entry_points=False)
    overrides = ["data.options.features=imagenet", f"data.options.backbone={args.backbone}", *args.overrides]
    spec = resolve_spec(registries, "amaz", dataset=args.dataset, overrides=overrides)
    t0 = time.perf_counter()
    data = load_dataset(registries, spec.data)
    seconds = time.perf_counter() - t0
    view = data.validation_view()

    out: dict[str, Any] = {"load_seconds": seconds, "feature_dim": data.feature_dim, "val": {}, "test": {}}
    for method, fixed in (("eszsl", {"gamma": 1.0, "lambda": 1.0}), ("ridge", {"alpha": 1.0})):
        selected = closed_form_floor(data, method=method)
        (pred,) = fit_predict(
            method,
            fixed,
            view.features[view.trainval],
            view.labels[view.trainval],
            view.semantics,
            view.unseen_classes,
            [view.features[view.test_unseen]],
        )
        out["val"][method] = {
            "selected": 100.0 * selected.val_score,
            "selected_params": selected.params,
            "fixed": 100.0 * per_class_top1(view.labels[view.test_unseen], pred),
        }
    out["test"] = floor_measurements(data)

    chance_val, chance_test = 100.0 / view.unseen_classes.size, 100.0 / data.unseen_classes.size
    print(
        f"{args.dataset}, features=imagenet ({args.backbone}, {data.feature_dim}-d, scaling "
        f"{data.preprocessing.get('scaling')}); loaded in {seconds:.0f} s on {args.threads} thread(s)\n"
    )
    print(
        f"validation view ({view.unseen_classes.size} val classes, chance {chance_val:.1f}): ZSL top-1 (%)\n"
    )
    print("| floor | selected on val | params | fixed (science.py) |")
    print("|---|---:|---|---:|")
    for method, row in out["val"].items():
        print(f"| {method} | {row['selected']:.1f} | {row['selected_params']} | {row['fixed']:.1f} |")
    print(f"\ntest split ({data.unseen_classes.size} unseen classes, chance {chance_test:.1f}): (%)\n")
    print("| floor | ZSL | GZSL U | GZSL S | GZSL H | params |")
    print("|---|---:|---:|---:|---:|---|")
    for method, row in out["test"].items():
        print(
            f"| {method} | {row['zsl']:.1f} | {row['gzsl_u']:.1f} | {row['gzsl_s']:.1f} | {row['gzsl_h']:.1f} "
            f"| {row['params']} |"
        )
    print(
        "\nnearest real class mean, cosine, per-class top-1 (%): the ceiling of the classifier-free "
        "measures (a generator whose synthetic class means sat exactly on the real ones)\n"
    )
    print("| view | seen: held-out samples, trainval means | unseen: test samples, their own means |")
    print("|---|---:|---:|")
    out["real_means"] = {}
    for name, v in (("validation view", view), ("test split", data)):
        seen, unseen = real_mean_ncm(v)
        out["real_means"][name] = {"seen": seen, "unseen": unseen}
        print(f"| {name} | {seen:.1f} | {unseen:.1f} |")
    return out


def real_mean_ncm(data: Any) -> tuple[float, float]:
    """``ncm_cosine_seen_real`` (``test_seen`` against the ``trainval`` class means) and the same
    for ``test_unseen`` against its own class means (an oracle)."""
    import numpy as np
    import torch

    from modgen.evaluate.quality import ncm_accuracy, real_class_means

    tv, ts, tu = (np.asarray(i) for i in (data.trainval, data.test_seen, data.test_unseen))
    X, y = data.features, data.labels
    seen = real_class_means(torch.as_tensor(X[tv]), y[tv], data.seen_classes)
    unseen = real_class_means(torch.as_tensor(X[tu]), y[tu], data.unseen_classes)
    return (
        ncm_accuracy(seen, data.seen_classes, X[ts], y[ts], metric="cosine"),
        ncm_accuracy(unseen, data.unseen_classes, X[tu], y[tu], metric="cosine"),
    )


if __name__ == "__main__":
    main()
