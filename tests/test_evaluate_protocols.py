"""ZSL / GZSL protocols, selection on validation classes, evaluation seeds and the classifier-free
measures, end to end on digits with a small untrained assembly.

The assembly is not trained, so the tests check structure, value ranges (percent) and
bookkeeping, not accuracy.
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
    QUALITY_MEASURES,
    EvaluationResult,
    Selection,
    aggregate,
    classifier_grid,
    evaluate,
    evaluation_seeds,
    harmonic_mean,
    select,
    sweep_synthesis,
)

SMALL_SOFTMAX = {"hidden": 32, "epochs": 3, "batch_size": 64}
CLASSIFIERS = ("softmax", "weighted-softmax", "svm", "weighted-svm")


def small_config(**changes) -> EvalConfig:
    base = EvalConfig(
        zsl_samples=20,
        gzsl_samples=20,
        seeds=2,
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
    from modgen.pipeline import resolve_spec
    from modgen.plugins import get_registries

    regs = get_registries(entry_points=False)
    data = load_digits_zsl()
    spec = resolve_spec(regs, "amaz", dataset="digits")
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
def view():
    """A validation view with two validation classes (digits' own split has one)."""
    from modgen.data.digits import load_digits_zsl

    return load_digits_zsl(val_classes=(8, 9)).validation_view()


@pytest.fixture(scope="module")
def selection(setup, view):
    asm, _, regs = setup  # (a real run selects with a generator trained on the view's classes)
    return select(asm, view, small_config(), regs, seed=0)


@pytest.fixture(scope="module")
def val_result(setup, selection):
    asm, data, regs = setup
    return evaluate(asm, data, small_config(), regs, seed=0, name="amaz", selection=selection)


def _check_ranges(result: EvaluationResult, classifiers) -> None:
    assert list(result.zsl) == list(classifiers) and list(result.gzsl) == list(classifiers)
    for clf in classifiers:
        assert 0.0 <= result.zsl[clf] <= 100.0 and result.zsl_std[clf] >= 0.0
        g = result.gzsl[clf]
        assert set(g) == {"u", "s", "h"} and all(0.0 <= v <= 100.0 for v in g.values())
        assert set(result.gzsl_std[clf]) == {"u", "s", "h"}
        # H of the means is not the mean of the H's: only with one evaluation seed are they equal
        if result.eval_seeds == 1:
            assert g["h"] == pytest.approx(harmonic_mean(g["u"], g["s"]))


def test_selection_on_the_validation_classes(selection, view):
    assert isinstance(selection, Selection)
    assert set(selection.record) == set(CLASSIFIERS)
    svm = selection.record["svm"]
    assert svm["zsl"]["criterion"] == f"val zsl top-1 ({len(view.unseen_classes)} val classes)"
    assert svm["gzsl"]["criterion"] == "val gzsl h"
    grid = LinearSVMClassifier.selection_grid["C"]
    assert set(svm["zsl"]["scores"]) == set(svm["gzsl"]["scores"]) == {f"C={c}" for c in grid}
    # the chosen point is the best score on the validation classes (ties: the first)
    best = max(svm["zsl"]["scores"], key=lambda k: svm["zsl"]["scores"][k])
    assert f"C={selection.params('svm', 'zsl')['C']}" == best
    assert selection.params("softmax", "gzsl")["lr"] in SoftmaxClassifier.selection_grid["lr"]
    with pytest.raises(ConfigError, match=r"no selection was made for classifier 'knn'"):
        selection.params("knn", "zsl")


def test_val_result_uses_the_selection(setup, val_result, selection):
    _, data, _ = setup
    r = val_result
    _check_ranges(r, CLASSIFIERS)
    assert r.selected_on == "val" and r.dataset == "digits" and r.name == "amaz" and r.eval_seeds == 2
    assert r.selection == json.loads(json.dumps(selection.record))
    # per-class ZSL accuracies are over the unseen classes and average to the ZSL score
    unseen = data.class_names_of(data.unseen_classes)
    for clf in CLASSIFIERS:
        assert list(r.zsl_per_class[clf]) == unseen
        assert np.mean(list(r.zsl_per_class[clf].values())) == pytest.approx(r.zsl[clf])
    assert r.config["zsl_samples"] == 20 and r.preprocessing == dict(data.preprocessing)


def test_classifier_free_measures(val_result):
    q = val_result.quality
    assert set(QUALITY_MEASURES) <= set(q) and {"retrieval@5", "retrieval@10"} <= set(q)
    assert set(val_result.quality_std) == set(q)
    for name, value in q.items():
        if name.startswith("mean_gap"):
            assert value >= 0.0
        else:
            assert 0.0 <= value <= 100.0, name


def test_the_seen_reference_uses_real_training_means_and_the_warnings_follow_the_rules(setup, val_result):
    from modgen.evaluate import collapse_warnings, ncm_accuracy, real_class_means

    _, data, _ = setup
    means = real_class_means(data.features[data.trainval], data.labels[data.trainval], data.seen_classes)
    expected = ncm_accuracy(
        means, data.seen_classes, data.features[data.test_seen], data.labels[data.test_seen], metric="cosine"
    )
    q = val_result.quality
    assert q["ncm_cosine_seen_real"] == pytest.approx(expected) and expected > 50.0
    assert val_result.quality_std["ncm_cosine_seen_real"] == 0.0  # no synthesis in it
    assert val_result.warnings == collapse_warnings(q, len(data.unseen_classes))
    back = EvaluationResult.from_dict(json.loads(json.dumps(val_result.to_dict())))
    assert back.warnings == val_result.warnings


@pytest.mark.parametrize(
    ("quality", "n_unseen", "kinds"),
    [
        (
            {"ncm_cosine_unseen": 38.2, "ncm_cosine_seen": 80.0, "ncm_cosine_seen_real": 90.0},
            3,
            ["unseen collapse"],
        ),
        ({"ncm_cosine_unseen": 38.4, "ncm_cosine_seen": 80.0, "ncm_cosine_seen_real": 90.0}, 3, []),
        (
            {"ncm_cosine_unseen": 15.1, "ncm_cosine_seen": 44.9, "ncm_cosine_seen_real": 90.0},
            10,
            ["seen classes not reproduced"],
        ),
        ({"ncm_cosine_unseen": 16.0, "ncm_cosine_seen": 45.1, "ncm_cosine_seen_real": 90.0}, 10, []),
        (
            {"ncm_cosine_unseen": 20.0, "ncm_cosine_seen": 10.0, "ncm_cosine_seen_real": 90.0},
            5,
            ["unseen collapse", "seen classes not reproduced"],
        ),
        ({"ncm_cosine_unseen": float("nan"), "ncm_cosine_seen": 10.0}, 5, []),  # no reference: no seen rule
        ({}, 5, []),
    ],
)
def test_collapse_rules(quality, n_unseen, kinds):
    from modgen.evaluate import collapse_warnings

    warnings = collapse_warnings(quality, n_unseen)
    assert [w.split(":")[0] for w in warnings] == kinds
    assert all("\n" not in w for w in warnings)


def test_result_json_round_trip(val_result):
    text = json.dumps(val_result.to_dict())
    back = EvaluationResult.from_dict(json.loads(text))
    assert back.zsl == val_result.zsl and back.quality == val_result.quality
    assert back.gzsl == val_result.gzsl and back.selection == val_result.selection
    assert back.zsl_std == val_result.zsl_std and back.eval_seeds == 2


def test_val_mode_with_a_grid_needs_a_selection(setup):
    asm, data, regs = setup
    with pytest.raises(ConfigError, match=r"evaluation.selection='val' chooses the classifiers' parameters"):
        evaluate(asm, data, small_config(classifiers=("svm",)), regs)


def test_selection_needs_two_validation_classes(setup):
    asm, data, regs = setup
    from modgen.data.digits import load_digits_zsl

    one = load_digits_zsl(val_classes=(9,)).validation_view()  # a single val class
    assert one.unseen_classes.tolist() == [9]
    with pytest.raises(DataError, match=r"selection on validation classes needs at least 2 of them"):
        select(asm, one, small_config(classifiers=("svm",)), regs)


def test_test_selection_mode_marks_results_and_real_seen(setup):
    asm, data, regs = setup
    cfg = small_config(
        classifiers=("svm",),
        selection="test",
        gzsl_seen="real",
        retrieval_k=(3,),
        seeds=1,
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
    assert "retrieval@3" in r.quality and "retrieval@5" not in r.quality


def test_fixed_params_skip_selection_and_are_deterministic(setup):
    asm, data, regs = setup
    cfg = small_config(classifiers=("svm",), classifier_params={"svm": {"C": 0.5, "max_iter": 50}})
    a = evaluate(asm, data, cfg, regs, seed=2)
    b = evaluate(asm, data, cfg, regs, seed=2)
    assert a.selection["svm"]["zsl"] == {"params": {}, "criterion": "none", "scores": {}}
    assert a.zsl == b.zsl and a.gzsl == b.gzsl and a.quality == b.quality
    agg = aggregate([a, attrs.evolve(b, seed=3, zsl={"svm": a.zsl["svm"] + 10.0})])
    assert agg["n_seeds"] == 2 and agg["seeds"] == [2, 3] and agg["eval_seeds"] == 2
    assert agg["zsl"]["svm"]["mean"] == pytest.approx(a.zsl["svm"] + 5.0)
    assert agg["zsl"]["svm"]["std"] == pytest.approx(np.std([0.0, 10.0], ddof=1))
    assert agg["gzsl"]["svm"]["h"]["std"] == 0.0
    assert set(agg["quality"]) == set(a.quality)
    json.dumps(agg)


def test_selection_none_runs_each_classifier_with_its_own_params(setup):
    asm, data, regs = setup
    cfg = small_config(classifiers=("svm",), selection="none", seeds=1)
    r = evaluate(asm, data, cfg, regs, seed=0)
    assert r.selected_on == "none" and r.eval_seeds == 1
    assert r.selection["svm"]["gzsl"] == {"params": {}, "criterion": "none", "scores": {}}
    assert r.zsl_std == {"svm": 0.0}  # one evaluation seed: no spread


def test_evaluation_seeds_are_independent_streams_of_the_base_seed(setup):
    assert evaluation_seeds(0, 2) == evaluation_seeds(0, 3)[:2]
    assert len(set(evaluation_seeds(0, 5))) == 5 and evaluation_seeds(0, 2) != evaluation_seeds(1, 2)
    asm, data, regs = setup
    cfg = small_config(classifiers=("svm",), selection="none", classifier_params={"svm": {"max_iter": 50}})
    two = evaluate(asm, data, cfg, regs, seed=4)
    one = evaluate(asm, data, attrs.evolve(cfg, seeds=1), regs, seed=4)
    assert two.zsl_std["svm"] > 0.0  # two draws of synthetic features differ
    assert one.zsl["svm"] != two.zsl["svm"]  # the mean over two seeds is not the first alone


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
    assert [v for v, _, _ in points] == [5.0, 15.0]
    assert all(0.0 <= mean <= 100.0 and std >= 0.0 for _, mean, std in points)
    with pytest.raises(ConfigError, match=r"sweep: param must be one of samples, sigma, got 'lr'"):
        sweep_synthesis(asm, data, cfg, regs, param="lr", values=[1.0], classifier="svm")
    with pytest.raises(ConfigError, match=r"sweep: samples must be integers >= 1, got 0"):
        sweep_synthesis(asm, data, cfg, regs, param="samples", values=[0], classifier="svm")
    with pytest.raises(ConfigError, match=r"sweep: values is empty"):
        sweep_synthesis(asm, data, cfg, regs, param="sigma", values=[], classifier="svm")


def test_protocol_errors(setup):
    asm, data, regs = setup
    none = {"selection": "none", "classifiers": ("svm",)}
    with pytest.raises(ConfigError, match=r"evaluation.retrieval_k: 100000 is more than the 544 test_unseen"):
        evaluate(asm, data, small_config(retrieval_k=(100000,), **none), regs)
    with pytest.raises(UnknownComponentError, match=r"Can't find 'svn' in registry 'final_classifier'"):
        evaluate(asm, data, small_config(classifiers=("svn",), selection="none"), regs)
    with pytest.raises(ConfigError, match=r"evaluate: seed must be an integer >= 0, got -1"):
        evaluate(asm, data, small_config(**none), regs, seed=-1)
    no_val = attrs.evolve(
        data, train=np.zeros(0, np.int64), val=np.zeros(0, np.int64), val_classes=np.zeros(0, np.int64)
    )
    with pytest.raises(DataError, match=r"no validation split"):
        no_val.validation_view()


def test_val_selection_end_to_end_through_the_pipeline(registries, tmp_path):
    """A run with selection='val' trains a second generator on the train classes (RUN/selection),
    chooses each classifier's settings on the val classes, and evaluates the final generator with
    them; a later evaluation reuses that choice and never rewrites the run's own results."""
    from modgen.pipeline import evaluate_run, resolve_spec, run
    from modgen.testing.presets import tiny

    overrides = [
        "trainer.episodes=2",
        "run.device=cpu",
        "data.options.val_classes=[8, 9]",  # digits' own split has one validation class
        'evaluation.classifiers=["svm"]',
        "evaluation.seeds=1",
        "evaluation.zsl_samples=10",
        "evaluation.gzsl_samples=10",
        "evaluation.classifier_params.svm.max_iter=20",
    ]
    spec = tiny(resolve_spec(registries, "amaz", dataset="digits", overrides=overrides), registries)
    out = tmp_path / "run"
    done = run(spec, registries, out)
    chosen = json.loads((out / "selection" / "selection.json").read_text())["record"]
    assert (out / "selection" / "summary.json").is_file()  # the selection generator's own run
    assert done.result.selected_on == "val" and done.selection.record == chosen
    assert done.result.selection == chosen
    assert chosen["svm"]["zsl"]["criterion"] == "val zsl top-1 (2 val classes)"
    with pytest.raises(ConfigError, match=r"already holds a finished run; add --resume"):
        run(spec, registries, out)
    own = (out / "results.json").read_text()
    again, folder = evaluate_run(out, registries, overrides=["evaluation.gzsl_seen=real"], device="cpu")
    assert folder.parent == out / "evaluations" and (folder / "eval.toml").is_file()
    # other evaluation settings: the classifiers' settings are chosen again on the selection model
    # (ZSL does not depend on the GZSL seen features, so its choice is the recorded one)
    assert again.gzsl_seen == "real" and again.selected_on == "val"
    assert again.selection["svm"]["zsl"] == chosen["svm"]["zsl"]
    same, _ = evaluate_run(out, registries, device="cpu")  # the run's own settings: the recorded choice
    assert same.selection == chosen and same.zsl == done.result.zsl
    assert (out / "results.json").read_text() == own
    with pytest.raises(
        ConfigError, match=r"changes only evaluation.\* settings; 'trainer.episodes' was fixed"
    ):
        evaluate_run(out, registries, overrides=["trainer.episodes=3"])
