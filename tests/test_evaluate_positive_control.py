"""The positive control of the evaluation: real unseen features in place of synthetic ones
(``evaluation.real_unseen_fraction``), drawn from a half of ``test_unseen`` that is never measured."""

from __future__ import annotations

import attrs
import numpy as np
import pytest
import torch

from modgen.assembly import build_assembly
from modgen.config import EvalConfig, apply_overrides
from modgen.data.digits import load_digits_zsl
from modgen.errors import ConfigError, DataError
from modgen.evaluate import evaluate
from modgen.evaluate.sets import TrainingSet, real_unseen_halves, with_real_unseen
from modgen.plugins import get_registries
from modgen.recipes import zsml


@pytest.fixture(scope="module")
def setting():
    regs, data = get_registries(entry_points=False), load_digits_zsl(pca=16)
    spec = apply_overrides(zsml(), ["generator.hidden=16"])
    with torch.random.fork_rng():
        asm = build_assembly(
            spec,
            regs,
            attr_dim=data.attr_dim,
            feature_dim=data.feature_dim,
            num_classes=len(data.seen_classes),
            seed=0,
            device="cpu",
        )
    config = EvalConfig(classifiers=("svm",), zsl_samples=20, gzsl_samples=20, seeds=1, selection="none")
    return regs, data, asm, config


def _evaluate(setting, **changes):
    regs, data, asm, config = setting
    return evaluate(asm, data, attrs.evolve(config, **changes), regs, seed=0)


def test_fraction_0_is_the_evaluation_of_today(setting) -> None:
    today, zero = _evaluate(setting), _evaluate(setting, real_unseen_fraction=0.0)
    assert {**zero.to_dict(), "seconds": None} == {**today.to_dict(), "seconds": None}
    assert "real_unseen" not in zero.preprocessing


def test_the_halves_are_disjoint_and_cover_test_unseen() -> None:
    data = load_digits_zsl()
    measured, donors = real_unseen_halves(data)
    assert np.intersect1d(measured.test_unseen, donors).size == 0
    assert np.array_equal(np.sort(np.concatenate([measured.test_unseen, donors])), np.sort(data.test_unseen))
    for c in data.unseen_classes:  # half of each class, the same halves every time
        n = int((data.labels[data.test_unseen] == c).sum())
        assert int((data.labels[donors] == c).sum()) == n // 2
    assert np.array_equal(real_unseen_halves(data)[1], donors)
    assert np.array_equal(measured.test_seen, data.test_seen) and np.array_equal(
        measured.trainval, data.trainval
    )


def test_replacement_touches_only_the_asked_share_of_unseen_rows() -> None:
    data = load_digits_zsl()
    _, donors = real_unseen_halves(data)
    classes = np.concatenate([data.unseen_classes, data.seen_classes[:2]])
    y = torch.as_tensor(np.repeat(classes, 20))
    part = TrainingSet(torch.full((y.numel(), data.feature_dim), -1.0), y, torch.full((y.numel(),), 0.5))
    out = with_real_unseen(part, data, donors, 0.25, np.random.default_rng(0))
    changed = (out.X != part.X).any(1).numpy()
    assert changed.sum() == 5 * len(data.unseen_classes)
    assert np.isin(y.numpy()[changed], data.unseen_classes).all()
    assert torch.all(out.w[torch.as_tensor(changed)] == 1.0) and torch.all(
        out.w[~torch.as_tensor(changed)] == 0.5
    )
    real = {tuple(r) for r in data.features[donors].round(6).tolist()}
    assert all(tuple(r) in real for r in out.X[torch.as_tensor(changed)].numpy().round(6).tolist())


def test_holdout_measures_half_and_real_features_score_far_above_synthetic(setting) -> None:
    regs, data, asm, config = setting
    p0 = _evaluate(setting, real_unseen_holdout=True)
    p1 = _evaluate(setting, real_unseen_fraction=1.0)
    assert "real_unseen" in p0.preprocessing and "real_unseen" in p1.preprocessing
    # an untrained generator against the unseen classes' own real features
    assert p1.zsl["svm"] > p0.zsl["svm"] + 30
    assert p1.zsl["svm"] > 80


def test_a_bad_fraction_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"real_unseen_fraction: expected a number in \[0, 1\], got 1.5"):
        EvalConfig(real_unseen_fraction=1.5)


def test_too_few_test_samples_to_halve_is_a_data_error() -> None:
    data = load_digits_zsl()
    one = data.test_unseen[data.labels[data.test_unseen] == 4][:1]
    rest = data.test_unseen[data.labels[data.test_unseen] != 4]
    with pytest.raises(DataError, match=r"unseen class '4' has 1 test sample\(s\)"):
        real_unseen_halves(attrs.evolve(data, test_unseen=np.sort(np.concatenate([one, rest]))))
