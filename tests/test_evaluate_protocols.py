"""ZSL / GZSL / retrieval protocols end to end on digits with a small untrained assembly.

The assembly is not trained, so the tests check structure, value ranges and bookkeeping, not
accuracy.
"""

from __future__ import annotations

import json

import attrs
import numpy as np
import pytest

from modgen.assembly import build_assembly
from modgen.classify import LinearSVMClassifier, SoftmaxClassifier
from modgen.config import EvalConfig
from modgen.errors import ConfigError, DataError, UnknownComponentError
from modgen.evaluate import (
    EvaluationResult,
    aggregate,
    classifier_grid,
    evaluate,
    harmonic_mean,
    sweep_synthesis,
)
from modgen.recipes import amaz, with_dataset_preset

SMALL_SOFTMAX = {"hidden": 32, "epochs": 3, "batch_size": 64}


def small_config(**changes) -> EvalConfig:
    base = EvalConfig(
        zsl_samples=20,
        gzsl_samples=20,
        classifier_params={
            "softmax": dict(SMALL_SOFTMAX),
            "weighted-softmax": dict(SMALL_SOFTMAX),
            "svm": {"max_iter": 50},
            "weighted-svm": {"max_iter": 50},
        },
    )
    return attrs.evolve(base, **changes)


@pytest.fixture(scope="module")
def setup():
    from modgen.data.digits import load_digits_zsl
    from modgen.plugins import get_registries

    regs = get_registries(entry_points=False)
    data = load_digits_zsl()
    spec = with_dataset_preset(amaz(), "digits")
    asm = build_assembly(
        spec,
        regs,
        attr_dim=data.attr_dim,
        feature_dim=data.feature_dim,
        num_classes=len(data.seen_classes),
        seed=0,
        device="cpu",
    )
    return asm, data, regs


@pytest.fixture(scope="module")
def val_result(setup):
    asm, data, regs = setup
    return evaluate(asm, data, small_config(), regs, seed=0, name="amaz")


def _check_ranges(result: EvaluationResult, classifiers) -> None:
    assert list(result.zsl) == list(classifiers) and list(result.gzsl) == list(classifiers)
    for clf in classifiers:
        assert 0.0 <= result.zsl[clf] <= 1.0
        g = result.gzsl[clf]
        assert set(g) == {"u", "s", "h"} and all(0.0 <= v <= 1.0 for v in g.values())
        assert g["h"] == pytest.approx(harmonic_mean(g["u"], g["s"]))


def test_val_selection_structure(setup, val_result):
    asm, data, _ = setup
    r = val_result
    classifiers = ("softmax", "weighted-softmax", "svm", "weighted-svm")
    _check_ranges(r, classifiers)
    assert r.selected_on == "val" and r.dataset == "digits" and r.name == "amaz"
    assert sorted(r.retrieval) == [5, 10] and all(0.0 <= v <= 1.0 for v in r.retrieval.values())
    # per-class ZSL accuracies are over the unseen classes and average to the ZSL score
    unseen = data.class_names_of(data.unseen_classes)
    for clf in classifiers:
        assert list(r.zsl_per_class[clf]) == unseen
        assert np.mean(list(r.zsl_per_class[clf].values())) == pytest.approx(r.zsl[clf])
    # digits' validation view has a single val class: ZSL selection falls back to H
    sel = r.selection["svm"]
    assert sel["zsl"]["criterion"].startswith("val gzsl h")
    assert sel["gzsl"]["criterion"] == "val gzsl h"
    assert sel["zsl"]["params"]["C"] in LinearSVMClassifier.selection_grid["C"]
    assert set(sel["gzsl"]["scores"]) == {f"C={c}" for c in LinearSVMClassifier.selection_grid["C"]}
    assert r.selection["softmax"]["zsl"]["params"]["lr"] in SoftmaxClassifier.selection_grid["lr"]
    assert r.config["zsl_samples"] == 20 and r.preprocessing == dict(data.preprocessing)


def test_result_json_round_trip(val_result):
    text = json.dumps(val_result.to_dict())
    back = EvaluationResult.from_dict(json.loads(text))
    assert back.zsl == val_result.zsl and back.retrieval == val_result.retrieval
    assert back.gzsl == val_result.gzsl and back.selection == val_result.selection


def test_test_selection_mode_marks_results_and_real_seen(setup):
    asm, data, regs = setup
    cfg = small_config(
        classifiers=("svm",),
        selection="test",
        gzsl_seen="real",
        retrieval_k=(3,),
        classifier_params={"svm": {"max_iter": 50, "grid": {"C": [0.1, 10.0]}}},
    )
    r = evaluate(asm, data, cfg, regs, seed=1)
    _check_ranges(r, ("svm",))
    assert r.selected_on == "test" and r.gzsl_seen == "real"
    assert r.selection["svm"]["zsl"]["criterion"] == "test zsl top-1"
    assert set(r.selection["svm"]["zsl"]["scores"]) == {"C=0.1", "C=10.0"}
    # the reported value is the best test score over the grid
    assert r.zsl["svm"] == max(r.selection["svm"]["zsl"]["scores"].values())
    assert r.gzsl["svm"]["h"] == max(r.selection["svm"]["gzsl"]["scores"].values())
    assert list(r.retrieval) == [3]


def test_fixed_params_skip_selection_and_are_deterministic(setup):
    asm, data, regs = setup
    cfg = small_config(classifiers=("svm",), classifier_params={"svm": {"C": 0.5, "max_iter": 50}})
    a = evaluate(asm, data, cfg, regs, seed=2)
    b = evaluate(asm, data, cfg, regs, seed=2)
    assert a.selection["svm"]["zsl"] == {"params": {}, "criterion": "none", "scores": {}}
    assert a.zsl == b.zsl and a.gzsl == b.gzsl and a.retrieval == b.retrieval
    agg = aggregate([a, attrs.evolve(b, seed=3, zsl={"svm": a.zsl["svm"] + 0.1})])
    assert agg["n_seeds"] == 2 and agg["seeds"] == [2, 3]
    assert agg["zsl"]["svm"]["mean"] == pytest.approx(a.zsl["svm"] + 0.05)
    assert agg["zsl"]["svm"]["std"] == pytest.approx(np.std([0.0, 0.1], ddof=1))
    assert agg["gzsl"]["svm"]["h"]["std"] == 0.0
    json.dumps(agg)


def test_classifier_grid_rules():
    fixed, points = classifier_grid(LinearSVMClassifier, {"max_iter": 10})
    assert fixed == {"max_iter": 10} and points == [{"C": c} for c in (0.01, 0.1, 1.0, 10.0)]
    assert classifier_grid(LinearSVMClassifier, {"grid": {}}) == ({}, [{}])
    assert classifier_grid(LinearSVMClassifier, {"grid": {"C": [1, 2], "tol": [0.1]}})[1] == [
        {"C": 1, "tol": 0.1},
        {"C": 2, "tol": 0.1},
    ]
    with pytest.raises(
        ConfigError, match=r"classifier_params grid.C: expected a non-empty list of values, got \[\]"
    ):
        classifier_grid(LinearSVMClassifier, {"grid": {"C": []}})


def test_sweep_synthesis(setup):
    asm, data, regs = setup
    cfg = small_config()
    points = sweep_synthesis(asm, data, cfg, regs, param="samples", values=[5, 15], classifier="svm", seed=0)
    assert [v for v, _ in points] == [5.0, 15.0] and all(0.0 <= acc <= 1.0 for _, acc in points)
    with pytest.raises(ConfigError, match=r"sweep: param must be one of samples, sigma, got 'lr'"):
        sweep_synthesis(asm, data, cfg, regs, param="lr", values=[1.0], classifier="svm")
    with pytest.raises(ConfigError, match=r"sweep: samples must be integers >= 1, got 0"):
        sweep_synthesis(asm, data, cfg, regs, param="samples", values=[0], classifier="svm")


def test_protocol_errors(setup):
    asm, data, regs = setup
    with pytest.raises(ConfigError, match=r"evaluation.retrieval_k: 100000 must be an integer in \[1, 544\]"):
        evaluate(asm, data, small_config(retrieval_k=(100000,)), regs)
    with pytest.raises(UnknownComponentError, match=r"Can't find 'svn' in registry 'final_classifier'"):
        evaluate(asm, data, small_config(classifiers=("svn",)), regs)
    no_val = attrs.evolve(
        data, train=np.zeros(0, np.int64), val=np.zeros(0, np.int64), val_classes=np.zeros(0, np.int64)
    )
    with pytest.raises(DataError, match=r"evaluation.selection='val' needs a validation split"):
        evaluate(asm, no_val, small_config(classifiers=("svm",)), regs)
