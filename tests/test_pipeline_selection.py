"""The generative pipeline chooses its classifiers' settings on validation classes only: the
labels of the test splits are never read before the choice is made (the closed-form floor's
selection has the same guarantee, tested in tests/test_baselines.py)."""

from __future__ import annotations

import numpy as np
import pytest

OVERRIDES = [
    "trainer.episodes=2",
    "run.device=cpu",
    "data.options.val_classes=[8, 9]",  # digits' own split has one validation class
    'evaluation.classifiers=["svm"]',
    "evaluation.seeds=1",
    "evaluation.zsl_samples=10",
    "evaluation.gzsl_samples=10",
    "evaluation.classifier_params.svm.max_iter=20",
]


class ForbiddenRead(Exception):
    """Raised by :class:`GuardedLabels` when a row of a test split is read."""


class GuardedLabels(np.ndarray):
    """A labels array whose rows in ``forbidden`` cannot be read by indexing (arrays derived from
    it are plain arrays)."""

    forbidden: np.ndarray | None = None

    def __getitem__(self, idx):
        plain = self.view(np.ndarray)
        if self.forbidden is not None and np.isin(np.arange(plain.shape[0])[idx], self.forbidden).any():
            raise ForbiddenRead(f"test-split labels read: {np.arange(plain.shape[0])[idx][:5]}...")
        return plain[idx]

    def __array_finalize__(self, obj):
        self.forbidden = None


def _guarded(data):
    """``data`` whose ``labels`` raise :class:`ForbiddenRead` when a test row is indexed."""
    labels = data.labels.view(GuardedLabels)
    labels.forbidden = np.concatenate([data.test_seen, data.test_unseen])
    object.__setattr__(data, "labels", labels)  # past the converter, which would make a plain array
    return data


def test_the_guard_sees_a_test_label_read():
    from modgen.data.digits import load_digits_zsl
    from modgen.evaluate.scoring import TestSplit

    data = _guarded(load_digits_zsl(val_classes=(8, 9)))
    assert data.labels[data.trainval].size == data.trainval.size  # training rows: fine
    data.validation_view()
    with pytest.raises(ForbiddenRead):
        TestSplit.of(data, "cpu")


def test_val_selection_never_reads_test_labels(registries, tmp_path):
    from modgen.data.digits import load_digits_zsl
    from modgen.pipeline import resolve_spec, run
    from modgen.testing.presets import tiny

    spec = tiny(resolve_spec(registries, "amaz", dataset="digits", overrides=OVERRIDES), registries)
    data = _guarded(load_digits_zsl(val_classes=(8, 9)))
    out = tmp_path / "run"
    # the final evaluation reads the test labels, as it must; the selection before it has not
    with pytest.raises(ForbiddenRead):
        run(spec, registries, out, data=data)
    chosen = out / "selection" / "selection.json"
    assert chosen.is_file(), "the test labels were read before the classifiers' settings were chosen"
    assert '"criterion": "val zsl top-1 (2 val classes)"' in chosen.read_text()
