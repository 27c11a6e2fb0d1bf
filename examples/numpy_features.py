"""Zero-shot learning on your own features and attributes given as numpy arrays.

1. Build a :class:`modgen.data.ZSLData` from arrays: features ``(N, D)``, labels ``(N,)``, class
   attributes ``(C, A)``, and which classes are unseen.
2. Train AMAZ on it briefly with :func:`modgen.pipeline.run` (the data given, no evaluation).
3. Synthesize features for the unseen classes (:func:`modgen.evaluate.synthesize`), weight them by
   their quality ``cos(a, AD(x_hat))`` (Eq. 12) and fit a registered final classifier on them.
4. Classify the real unseen samples.

Bring your arrays as ``.npy`` files::

    python examples/numpy_features.py --features X.npy --labels y.npy --attributes S.npy --unseen 3,7,9

Without them the script makes a small demo set whose features are a random nonlinear function of
the class attributes plus noise, so it runs out of the box (a few seconds on a CPU).
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np
import torch

from modgen import get_registries
from modgen.config import apply_overrides
from modgen.data import ZSLData
from modgen.evaluate import synthesize
from modgen.evaluate.metrics import per_class_top1
from modgen.pipeline import run


def demo_arrays(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int]]:
    """10 classes with 12 binary-ish attributes; 64 samples each of 32-d features; 3 unseen."""
    rng = np.random.default_rng(seed)
    attributes = (rng.random((10, 12)) < 0.4).astype(np.float32) + rng.normal(0, 0.05, (10, 12))
    mix = rng.normal(0, 1, (12, 32))
    labels = np.repeat(np.arange(10), 64)
    features = np.tanh(attributes[labels] @ mix) + rng.normal(0, 0.3, (labels.size, 32))
    return features.astype(np.float32), labels, attributes.astype(np.float32), [2, 5, 8]


def zsl_data_from_arrays(
    features: np.ndarray, labels: np.ndarray, attributes: np.ndarray, unseen: list[int], seed: int = 0
) -> ZSLData:
    """Seen classes: 80% of their samples train (``trainval``), 20% test (``test_seen``);
    every sample of an unseen class is ``test_unseen``."""
    rng = np.random.default_rng(seed)
    is_unseen = np.isin(labels, unseen)
    seen_rows = rng.permutation(np.flatnonzero(~is_unseen))
    cut = int(0.8 * seen_rows.size)
    scale = features[seen_rows[:cut]].std(axis=0) + 1e-6  # statistics of training samples only
    return ZSLData(
        name="numpy-demo",
        features=features / scale,
        labels=labels,
        semantics=attributes / np.linalg.norm(attributes, axis=1, keepdims=True),
        class_names=[f"class{c}" for c in range(attributes.shape[0])],
        trainval=np.sort(seen_rows[:cut]),
        test_seen=np.sort(seen_rows[cut:]),
        test_unseen=np.flatnonzero(is_unseen),
        seen_classes=np.setdiff1d(np.unique(labels), unseen),
        unseen_classes=np.sort(unseen),
        preprocessing={"scaling": "per-dimension std of trainval"},
        source="numpy arrays",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", help=".npy file, (N, D) float")
    parser.add_argument("--labels", help=".npy file, (N,) int class ids 0..C-1")
    parser.add_argument("--attributes", help=".npy file, (C, A) float class attributes")
    parser.add_argument("--unseen", help="comma-separated unseen class ids")
    parser.add_argument("--episodes", type=int, default=40)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", help="run folder to keep (default: a temporary folder)")
    parser.add_argument("--set", action="append", default=[], help="extra recipe overrides, key=value")
    args = parser.parse_args()

    if args.features:
        features, labels = np.load(args.features), np.load(args.labels)
        attributes, unseen = np.load(args.attributes), [int(c) for c in args.unseen.split(",")]
    else:
        features, labels, attributes, unseen = demo_arrays()
    data = zsl_data_from_arrays(features, labels, attributes, unseen)
    print(
        f"{data.num_samples} samples, D={data.feature_dim}, A={data.attr_dim}, "
        f"{data.seen_classes.size} seen / {data.unseen_classes.size} unseen classes"
    )

    regs = get_registries()
    spec = apply_overrides(
        regs.recipe.get("amaz")(),
        [
            f"trainer.episodes={args.episodes}",
            f"run.device={args.device}",
            "run.log_every=10",
            "trainer.beta2=1e-3",  # higher meta learning rates than the paper: a short run
            "trainer.beta3=1e-3",
            "generator.hidden=64",
            "modulator.hidden=32",
            "critic.hidden=[64, 32]",
            "aux_classifier.hidden=[32, 32]",
            "attribute_decoder.hidden=[64, 32]",
            "task_sampler.n_way=3",  # 3 support + 3 query classes per task, from the 7 seen ones
            "task_sampler.tasks=4",
            *args.set,
        ],
    )
    with tempfile.TemporaryDirectory() as tmp:
        outcome = run(spec, regs, args.out or tmp, data=data, evaluate=False).outcome
    print(f"trained {outcome.episodes} episodes in {outcome.seconds:.1f} s")

    assembly = outcome.assembly
    unseen_attrs = torch.from_numpy(data.semantics[data.unseen_classes])
    gen = torch.Generator(device=next(assembly.parameters()).device).manual_seed(0)
    synthetic = synthesize(assembly, unseen_attrs, 200, sigma=1.0, generator=gen)
    quality = assembly.quality_weighter.sample_weights(
        unseen_attrs.to(gen.device)[synthetic.labels], synthetic.reconstructed
    )
    real_x = data.features[data.test_unseen]
    real_y = data.labels[data.test_unseen]
    for name in ("svm", "weighted-svm"):
        clf = regs.final_classifier.get(name)(C=1.0, device="cpu")
        clf.fit(synthetic.features, synthetic.labels, sample_weight=quality.clamp_min(0))
        predicted = data.unseen_classes[np.asarray(clf.predict(real_x))]
        print(
            f"{name:13s} ZSL per-class top-1 on the real unseen samples: "
            f"{100 * per_class_top1(real_y, predicted):.1f}%"
        )


if __name__ == "__main__":
    main()
