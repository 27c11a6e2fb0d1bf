"""Which direction of the attribute-feature map fails on a data set's unseen classes? (A diagnosis.)

Per-class ZSL top-1 on the test split of two closed-form maps fitted on the seen classes, at
every ridge strength of a small grid (nothing is selected: this explains a result, it chooses
nothing):

* ``features -> attributes`` (ridge, nearest class attribute vector by cosine): the
  discriminative direction of the closed-form floor;
* ``attributes -> class means`` (ridge from the seen classes' attribute vectors to their mean
  features, nearest predicted unseen class mean by cosine): the direction a conditional
  generator works in, as a linear map;

and the real unseen class means (an oracle: what a generator that put every class mean exactly
right would score with a nearest-mean classifier).

Usage:
    python benchmarks/probes/closed_form_directions.py --dataset fashion-mnist
    python benchmarks/probes/closed_form_directions.py --dataset digits --view val --set data.options.features=imagenet
    python benchmarks/probes/closed_form_directions.py --smoke   # digits, one ridge strength
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    import torch
    from benchlib import add_smoke_flag

    from modgen.baselines import ridge_fit, ridge_predict
    from modgen.data import load_dataset
    from modgen.pipeline import resolve_spec
    from modgen.plugins import get_registries

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--dataset", default=None, help="a registered data set, its preset's features (default fashion-mnist)"
    )
    p.add_argument(
        "--alphas", default=None, help="ridge strengths, comma-separated (default 1e-3,1e-1,10,1000; smoke 1)"
    )
    p.add_argument(
        "--view",
        choices=("test", "val"),
        default="test",
        help="test: the test split (train on trainval, measure the unseen classes); val: the validation "
        "view (train on the train classes, measure the val classes; the test classes are not read)",
    )
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], help="--set KEY=VALUE for the data"
    )
    add_smoke_flag(p, "the embedded digits, one ridge strength")
    args = p.parse_args(argv)
    args.dataset = args.dataset or ("digits" if args.smoke else "fashion-mnist")
    args.alphas = args.alphas or ("1" if args.smoke else "1e-3,1e-1,10,1000")
    torch.set_num_threads(1)
    registries = get_registries(entry_points=False)
    data = load_dataset(
        registries, resolve_spec(registries, "zsml", dataset=args.dataset, overrides=args.overrides).data
    )
    if args.view == "val":
        data = data.validation_view()
    X, y, S = data.features, data.labels, data.semantics
    tv, te = data.trainval, data.test_unseen
    seen, unseen = data.seen_classes, data.unseen_classes
    xte, yte = X[te], y[te]

    def cosine_nearest(F: np.ndarray, P: np.ndarray) -> np.ndarray:
        F = F / np.linalg.norm(F, axis=1, keepdims=True)
        P = P / np.linalg.norm(P, axis=1, keepdims=True)
        return unseen[np.argmax(F @ P.T, axis=1)]

    rows: dict[str, dict[str, float]] = {}

    def record(label: str, pred: np.ndarray) -> None:
        row = {data.class_names[c]: 100.0 * float(np.mean(pred[yte == c] == c)) for c in unseen}
        rows[label] = {"all": 100.0 * float(np.mean(pred == yte)), **row}

    means = np.stack([X[tv][y[tv] == c].mean(0) for c in seen])
    for alpha in (float(a) for a in args.alphas.split(",")):
        fit = ridge_fit(X[tv], S[y[tv]], alpha)
        record(
            f"features -> attributes, alpha {alpha:g}", unseen[ridge_predict(xte, fit, S[unseen]).argmax(1)]
        )
        W, xm, tm = ridge_fit(S[seen], means, alpha)
        record(f"attributes -> class means, alpha {alpha:g}", cosine_nearest(xte, (S[unseen] - xm) @ W + tm))
    real = np.stack([xte[yte == c].mean(0) for c in unseen])
    record("real unseen class means (oracle)", cosine_nearest(xte, real))

    names = [data.class_names[c] for c in unseen]
    where = "test split" if args.view == "test" else "validation view (train -> val classes)"
    print(f"{args.dataset} {where}, --set {args.overrides}; ZSL top-1 (%) overall and per unseen class:\n")
    print("| map | all | " + " | ".join(names) + " |")
    print("|---|---:|" + "---:|" * len(names))
    for label, row in rows.items():
        print(f"| {label} | {row['all']:.1f} | " + " | ".join(f"{row[n]:.1f}" for n in names) + " |")
    return rows


if __name__ == "__main__":
    main()
