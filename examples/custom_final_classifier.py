"""A final classifier of your own: register it, then use it in modgen's evaluation and by hand.

A final classifier is anything with scikit-learn's estimator API (``fit(X, y, sample_weight)``,
``predict``, ``decision_function``; ``sklearn.base.clone`` must work), see
:class:`modgen.interfaces.FinalClassifier`. This script

1. writes one: a nearest-class-mean classifier whose class prototypes are the quality-weighted
   means of the synthetic features (the ``sample_weight`` modgen passes are the Eq. 12
   qualities ``cos(a, AD(x_hat))``);
2. registers it as ``mine.nearest-mean`` through a plugin object given to
   ``get_registries(extra=...)`` — the same hook an installed plugin uses;
3. trains AMAZ briefly on the embedded digits data and
4. evaluates it with modgen's ZSL/GZSL protocol, both in one :func:`modgen.pipeline.run`, and
5. uses it directly on features from :func:`modgen.evaluate.synthesize`.

Run it (a few seconds on a CPU; the accuracies of so short a training are only a smoke test)::

    python examples/custom_final_classifier.py [--episodes 20]
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin

from modgen import get_registries, hookimpl
from modgen.evaluate import synthesize
from modgen.evaluate.metrics import per_class_top1
from modgen.pipeline import resolve_spec, run


# Mixins go before BaseEstimator (scikit-learn's rule): with BaseEstimator first,
# is_classifier() is False and cross_val_score splits without stratification.
class NearestMeanClassifier(ClassifierMixin, BaseEstimator):
    """Nearest class mean by cosine similarity; prototypes are ``sample_weight``-weighted means.

    Args:
        normalize: L2-normalise features before averaging and comparing (cosine similarity).
    """

    def __init__(self, normalize: bool = True) -> None:
        self.normalize = normalize

    def _prepare(self, X: object) -> np.ndarray:
        X = np.asarray(X.detach().cpu() if isinstance(X, torch.Tensor) else X, dtype=np.float64)
        return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12) if self.normalize else X

    def fit(self, X: object, y: object, sample_weight: object | None = None) -> NearestMeanClassifier:
        """``X (n, D)``, ``y (n,)``, ``sample_weight (n,)`` or None -> self."""
        X, y = self._prepare(X), np.asarray(y)
        w = (
            np.ones(len(y))
            if sample_weight is None
            else np.clip(np.asarray(sample_weight, dtype=np.float64), 0, None)
        )
        self.classes_ = np.unique(y)
        self.prototypes_ = np.stack(
            [
                np.average(X[y == c], axis=0, weights=w[y == c] if w[y == c].sum() > 0 else None)
                for c in self.classes_
            ]
        )
        return self

    def decision_function(self, X: object) -> np.ndarray:
        """``(n, D)`` -> similarities to each class prototype ``(n, C)``."""
        return self._prepare(X) @ self._prepare(self.prototypes_).T

    def predict(self, X: object) -> np.ndarray:
        """``(n, D)`` -> the class of the most similar prototype ``(n,)``."""
        return self.classes_[self.decision_function(X).argmax(axis=1)]


class MyPlugin:
    """A plugin object: what an installed plugin module would hold, here defined in place."""

    @hookimpl
    def modgen_register_components(self, registries: object) -> None:
        registries.final_classifier.register("mine.nearest-mean", NearestMeanClassifier)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    regs = get_registries(extra=[("mine", MyPlugin())])
    print("final classifiers:", ", ".join(regs.final_classifier.names()))

    # 3.-4. amaz with the digits preset, CPU-sized networks and higher meta learning rates than
    #    the paper, for a short run; evaluated with our classifier. Add built-in ones such as "svm"
    #    or "weighted-softmax" to compare (they choose their settings on the validation classes,
    #    see evaluation.selection).
    spec = resolve_spec(
        regs,
        "amaz",
        dataset="digits",
        overrides=[
            "generator.hidden=64",
            "modulator.hidden=32",
            "critic.hidden=[64, 32]",
            "aux_classifier.hidden=[32, 32]",
            "attribute_decoder.hidden=[64, 32]",
            "trainer.beta2=1e-3",
            "trainer.beta3=1e-3",
            f"trainer.episodes={args.episodes}",
            f"run.device={args.device}",
            'evaluation.classifiers=["mine.nearest-mean"]',
            "evaluation.zsl_samples=100",
            "evaluation.gzsl_samples=100",
        ],
    )
    with tempfile.TemporaryDirectory() as out:
        done = run(spec, regs, out)
    outcome, result = done.outcome, done.result
    assembly, data = outcome.assembly, outcome.data
    print(
        f"trained {spec.name} for {outcome.episodes} episodes in {outcome.seconds:.1f} s on {outcome.device}"
    )
    # percent, the mean over spec.evaluation.seeds draws of synthetic features
    for clf in spec.evaluation.classifiers:
        g = result.gzsl[clf]
        print(
            f"{clf:18s} ZSL top-1 {result.zsl[clf]:.1f}%   GZSL U {g['u']:.1f}% S {g['s']:.1f}% H {g['h']:.1f}%"
        )

    # 5. by hand: synthesize features for the unseen classes and fit our classifier on them.
    unseen_attrs = torch.from_numpy(data.semantics[data.unseen_classes])
    gen = torch.Generator(device=next(assembly.parameters()).device).manual_seed(0)
    synthetic = synthesize(assembly, unseen_attrs, 100, sigma=spec.evaluation.sigma_test, generator=gen)
    quality = assembly.quality_weighter.sample_weights(
        unseen_attrs.to(gen.device)[synthetic.labels], synthetic.reconstructed
    )
    clf = NearestMeanClassifier().fit(synthetic.features, synthetic.labels, sample_weight=quality)
    predicted = data.unseen_classes[clf.predict(data.features[data.test_unseen])]
    accuracy = per_class_top1(data.labels[data.test_unseen], predicted)
    print(f"by hand: nearest quality-weighted mean, ZSL top-1 {100 * accuracy:.1f}%")


if __name__ == "__main__":
    main()
