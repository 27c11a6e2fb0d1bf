"""Final classifiers trained on synthetic features (Section II-E), scikit-learn estimator API.

Registered under ``final_classifier``:

* ``softmax`` / ``weighted-softmax``: two FC layers and softmax; the weighted one scales each
  sample's cross entropy by its quality (Eq. 13);
* ``svm`` / ``weighted-svm``: one-vs-rest squared-hinge linear SVM trained in torch on the
  device; the weighted one uses the class weights of Eq. 14;
* ``sklearn-svm`` / ``weighted-sklearn-svm``: the same SVM objective through scikit-learn's
  ``LinearSVC``, to check the torch SVM against.

Each is a scikit-learn classifier (``clone``, ``cross_val_score``, pipelines; tested with
``sklearn.utils.estimator_checks``) that also takes torch tensors on any device. A weighted
classifier is its unweighted class plus another ``weighting`` default, made by
:func:`variant`. :func:`fit_grid` fits one classifier at several hyper-parameter values
together (stacked softmax networks, a warm-started ``C`` path for the SVM); :class:`WarmStarts`
carries the SVMs' solutions from one such fit to the next (evaluation seeds, weightings).

Example:
    >>> from modgen.registry import Registries
    >>> regs = Registries()
    >>> register_components(regs.scoped("builtin"))
    >>> regs.final_classifier.names()
    ['sklearn-svm', 'softmax', 'svm', 'weighted-sklearn-svm', 'weighted-softmax', 'weighted-svm']
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modgen.classify._base import (
    WEIGHTINGS,
    ClassifierNotFittedError,
    InputTypeError,
    class_mean_weights,
    resolve_device,
    resolve_sample_weights,
)
from modgen.classify._variant import variant
from modgen.classify.grid import WarmStarts, fit_grid
from modgen.classify.softmax import SoftmaxClassifier, WeightedSoftmaxClassifier
from modgen.classify.svm import (
    LinearSVMClassifier,
    SklearnLinearSVC,
    WeightedLinearSVMClassifier,
    WeightedSklearnLinearSVC,
)

if TYPE_CHECKING:
    from modgen.registry import PluginRegistries

__all__ = [
    "FINAL_CLASSIFIERS",
    "WEIGHTINGS",
    "WarmStarts",
    "ClassifierNotFittedError",
    "InputTypeError",
    "LinearSVMClassifier",
    "SklearnLinearSVC",
    "SoftmaxClassifier",
    "WeightedLinearSVMClassifier",
    "WeightedSklearnLinearSVC",
    "WeightedSoftmaxClassifier",
    "class_mean_weights",
    "fit_grid",
    "register_components",
    "resolve_device",
    "resolve_sample_weights",
    "variant",
]

#: The built-in final classifiers by registry name.
FINAL_CLASSIFIERS: dict[str, type] = {
    "softmax": SoftmaxClassifier,
    "weighted-softmax": WeightedSoftmaxClassifier,
    "svm": LinearSVMClassifier,
    "weighted-svm": WeightedLinearSVMClassifier,
    "sklearn-svm": SklearnLinearSVC,
    "weighted-sklearn-svm": WeightedSklearnLinearSVC,
}


def register_components(registries: PluginRegistries) -> None:
    """Register the final classifiers of :data:`FINAL_CLASSIFIERS` (called by :mod:`modgen.builtin`).

    Example:
        >>> from modgen.registry import Registries
        >>> regs = Registries()
        >>> register_components(regs.scoped("builtin"))
        >>> regs.final_classifier.get("weighted-svm").__name__
        'WeightedLinearSVMClassifier'
    """
    for name, cls in FINAL_CLASSIFIERS.items():
        registries.final_classifier.register(name, cls)
