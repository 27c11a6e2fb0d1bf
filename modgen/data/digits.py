"""``digits``: the embedded default data set (scikit-learn's bundled 8x8 digits, no download).

1,797 images of the digits 0-9 (``sklearn.datasets.load_digits``) with a class-attribute
table written by hand for modgen (``modgen/data/digits_attributes.csv``: 18 visual attributes
of digit shapes such as closed loops, a vertical stroke, a top bar, an open top; values in
``[0, 1]``). The table is the project's own judgement of typical handwritten shapes, not a
published annotation; results on it show that a pipeline runs, not how well a method does.

Fixed split: the digits 4, 5 and 6 are unseen (chosen because a linear attribute-regression
baseline reaches its best zero-shot accuracy, about 78%, on them among all 3-digit choices,
so the attributes do discriminate them); the other seven are seen, 80% of each seen class's
samples are ``trainval`` and 20% ``test_seen`` (a fixed seeded draw), all unseen samples are
``test_unseen``. The validation split holds out the digits 0 and 3: ``val`` is their ``trainval``
samples, ``train`` the other ``trainval`` samples (five classes, so the digits preset's 2-way
tasks, 2 support + 2 query classes, can be drawn in the validation view too). Two validation
classes make zero-shot model selection possible: a generator trained on ``train`` is judged on
classes it never saw. They were chosen without looking at the test classes' results, as the pair
whose validation task the closed-form floor (ESZSL, ridge) finds neither trivial nor hopeless
(about 72% on the 2-way task, chance 50%; the rule and its scores are in docs/benchmarks.md, "What was tried").

Rotated splits: ``split=K`` (``--set data.options.split=K``) replaces the fixed classes by the
rotated split ``K`` of :func:`~modgen.data._common.rotated_class_split` (same counts: 3 unseen,
2 validation digits), so that no single class choice decides a comparison.

Features are the 64 pixels divided by 16 (so in ``[0, 1]``), optionally projected by PCA
fitted on ``trainval``, or with ``features="imagenet"`` an ImageNet-pretrained backbone's
features of the images (:mod:`modgen.data.imagenet`, cached); class attributes are
L2-normalised per class like xlsa17's ``att``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from modgen.data._common import (
    build_embedded,
    check_class_choice,
    check_scaling_option,
    check_semantics_option,
    finish,
    read_attribute_table,
    rotated_class_split,
    stratified_split,
)
from modgen.data.imagenet import IMAGENET_IMAGE_SIZE, check_imagenet_options, with_imagenet_features
from modgen.data.zsldata import ZSLData
from modgen.errors import ConfigError

__all__ = [
    "load_digits_zsl",
    "digits_loader",
    "DIGITS_UNSEEN",
    "DIGITS_VAL_CLASSES",
    "DIGITS_ATTRIBUTES_FILE",
]

#: The unseen digits of the fixed split.
DIGITS_UNSEEN: tuple[int, ...] = (4, 5, 6)
#: The validation classes (drawn from the seen digits).
DIGITS_VAL_CLASSES: tuple[int, ...] = (0, 3)
#: The hand-made attribute table, package data of :mod:`modgen.data`.
DIGITS_ATTRIBUTES_FILE = "digits_attributes.csv"
#: The ``features`` option's values.
DIGITS_FEATURES: tuple[str, ...] = ("pixels", "imagenet")


def load_digits_zsl(
    *,
    validation: bool = False,
    pca: int | None = None,
    scaling: str = "none",
    seed: int = 0,
    unseen: Sequence[int] = DIGITS_UNSEEN,
    val_classes: Sequence[int] = DIGITS_VAL_CLASSES,
    split: int = 0,
    semantics: str = "att",
    features: str = "pixels",
    backbone: str = "efficientnet-lite0",
    image_size: int = IMAGENET_IMAGE_SIZE,
    cache_dir: str | None = None,
) -> ZSLData:
    """Load the embedded ``digits`` zero-shot data set.

    Args:
        validation: return the validation view (train on ``train``, test on ``val``).
        pca: project the 64 pixels onto this many principal axes (fitted on ``trainval``).
        scaling: ``"none"`` (pixels are already in ``[0, 1]``), ``"minmax"`` or ``"l2"``.
        seed: seed of the 80/20 sample split of the seen classes (keep 0 for the fixed split).
        unseen: the unseen digits.
        val_classes: the validation digits (seen digits).
        split: the class split: 0 the fixed one (``unseen``, ``val_classes``), ``K >= 1`` the
            rotated split ``K`` (:func:`~modgen.data._common.rotated_class_split`: 3 unseen and
            2 validation digits chosen from class ids alone); the data is then named
            ``digits-splitK``.
        semantics: only ``"att"`` (the hand-made table).
        features: ``"pixels"`` (64-d) or ``"imagenet"``: ``backbone``'s features of the images
            upscaled to ``image_size`` (:func:`~modgen.data.imagenet.with_imagenet_features`).
        backbone: the registered backbone of ``features="imagenet"``.
        image_size: the square side the 8x8 images are upscaled to for the backbone.
        cache_dir: where ImageNet features are cached (``None``: the default cache; ``""``: none).

    Returns:
        ``ZSLData`` with features ``(1797, 64)`` (or ``(1797, pca)``; ``imagenet``: the backbone's
        width, 1280 for ``efficientnet-lite0``) and semantics ``(10, 18)``.

    Raises:
        ConfigError: a bad option.

    Example:
        >>> data = load_digits_zsl()
        >>> data.features.shape, data.semantics.shape, data.unseen_classes.tolist()
        ((1797, 64), (10, 18), [4, 5, 6])
    """
    check_semantics_option("digits", semantics)
    check_scaling_option("digits", scaling)
    if features not in DIGITS_FEATURES:
        raise ConfigError(
            f"digits: option features={features!r} is unknown; expected one of {', '.join(DIGITS_FEATURES)}"
        )
    if features == "imagenet":
        check_imagenet_options("digits", backbone, image_size)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"digits: option seed={seed!r} must be a non-negative integer")
    unseen, val_classes = rotated_class_split(
        "digits", split, 10, unseen, val_classes, (DIGITS_UNSEEN, DIGITS_VAL_CLASSES)
    )
    from sklearn.datasets import load_digits

    bunch = load_digits()
    pixels = (bunch.data / 16.0).astype(np.float32)
    labels = bunch.target.astype(np.int64)
    digit_names, attribute_names, table = read_attribute_table(DIGITS_ATTRIBUTES_FILE)
    semantics_arr = table / np.linalg.norm(table, axis=1, keepdims=True)
    seen, unseen_ids, val_ids = check_class_choice("digits", unseen, val_classes, len(digit_names))
    trainval, test_seen = stratified_split(labels, seen, 0.8, seed)
    data = build_embedded(
        name="digits",
        features=pixels,
        labels=labels,
        semantics=semantics_arr,
        class_names=digit_names,
        trainval=trainval,
        test_seen=test_seen,
        test_unseen=np.flatnonzero(np.isin(labels, unseen_ids)).astype(np.int64),
        seen=seen,
        unseen=unseen_ids,
        val_classes=val_ids,
        preprocessing={
            "features": "8x8 pixels / 16 (64-d)",
            "semantics": f"hand-made attributes ({DIGITS_ATTRIBUTES_FILE}, {len(attribute_names)}), "
            "L2-normalised per class",
            "split": f"seen 80/20 trainval/test_seen per class (seed {seed}); unseen digits "
            f"{unseen_ids.tolist()}; val digits {val_ids.tolist()}",
            "scaling": "none",
        },
        source="sklearn.datasets.load_digits + modgen/data/" + DIGITS_ATTRIBUTES_FILE,
    )
    if features == "imagenet":
        images = pixels.reshape(-1, 8, 8)
        data = with_imagenet_features(
            data, images, backbone=backbone, image_size=image_size, cache_dir=cache_dir
        )
    return finish(data, validation=validation, scaling=scaling, pca=pca, seed=seed, split=split)


def digits_loader(
    root: str | None = None,
    *,
    validation: bool = False,
    pca: int | None = None,
    scaling: str = "none",
    seed: int = 0,
    unseen: Sequence[int] = DIGITS_UNSEEN,
    val_classes: Sequence[int] = DIGITS_VAL_CLASSES,
    split: int = 0,
    semantics: str = "att",
    features: str = "pixels",
    backbone: str = "efficientnet-lite0",
    image_size: int = IMAGENET_IMAGE_SIZE,
    cache_dir: str | None = None,
) -> ZSLData:
    """The embedded digits (scikit-learn, no download) with a hand-made attribute table.

    The registered ``digits`` loader: :func:`load_digits_zsl` with a ``root`` argument that
    must be empty, since the data set is embedded.

    Example:
        >>> digits_loader(pca=16).feature_dim
        16
    """
    if root:
        raise ConfigError(f"data.root: digits is embedded in scikit-learn and takes no root, got {root!r}")
    return load_digits_zsl(
        validation=validation,
        pca=pca,
        scaling=scaling,
        seed=seed,
        unseen=unseen,
        val_classes=val_classes,
        split=split,
        semantics=semantics,
        features=features,
        backbone=backbone,
        image_size=image_size,
        cache_dir=cache_dir,
    )
