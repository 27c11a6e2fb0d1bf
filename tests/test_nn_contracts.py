"""The contract test of every registered component (timm's test_models pattern)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from modgen import interfaces
from modgen.errors import ConfigError
from modgen.nn import AttributeModulator, MLPGenerator
from modgen.plugins import get_registries
from modgen.testing.contracts import CHECKS, ContractError, check_component

# Small widths per (kind, name); components not listed are checked with their defaults.
SMALL = {
    ("generator", "mlp"): {"hidden": 16},
    ("modulator", "attribute"): {"hidden": 16},
    ("critic", "mlp"): {"hidden": [16, 8]},
    ("aux_classifier", "mlp"): {"hidden": [16, 8]},
    ("attribute_decoder", "mlp"): {"hidden": [16, 8]},
}


def _registered():
    regs = get_registries(entry_points=False)
    return [(kind, name, regs.kind(kind).get(name)) for kind in CHECKS for name in regs.kind(kind).names()]


REGISTERED = _registered()


def test_every_network_kind_has_builtins():
    kinds = {k for k, _, _ in REGISTERED}
    assert kinds == set(CHECKS)
    assert ("modulator", "none") in {(k, n) for k, n, _ in REGISTERED}


PROTOCOLS = {
    "generator": interfaces.Generator,
    "modulator": interfaces.Modulator,
    "critic": interfaces.Critic,
    "aux_classifier": interfaces.AuxClassifier,
    "attribute_decoder": interfaces.AttributeDecoder,
    "quality_weighter": interfaces.QualityWeighter,
}


@pytest.mark.parametrize(("kind", "name", "cls"), REGISTERED, ids=[f"{k}-{n}" for k, n, _ in REGISTERED])
def test_registered_component_satisfies_its_protocol(kind, name, cls):
    built = check_component(kind, cls, **SMALL.get((kind, name), {}))
    assert isinstance(built, PROTOCOLS[kind])


@pytest.mark.parametrize("leading", [(), (3,), (2, 2)])
def test_generator_contract_over_leading_dims(leading):
    g = check_component("generator", MLPGenerator, hidden=8, leading=leading, n=3, output_activation="relu")
    assert g.modulated_dims[-1] == 7


@pytest.mark.cuda
def test_registered_contracts_on_cuda():
    for kind, name, cls in REGISTERED:
        check_component(kind, cls, device="cuda", **SMALL.get((kind, name), {}))


# -- the checks catch broken components ----------------------------------------------------------
class SkipsModulation(MLPGenerator):
    def forward(self, z, a, modulation=None):
        return super().forward(z, a, None)


class BatchWideNorm(MLPGenerator):
    """Normalises over every leading dim at once: tasks leak into each other."""

    def forward(self, z, a, modulation=None):
        out = super().forward(z, a, modulation)
        flat = out.reshape(-1, out.shape[-1])
        return ((flat - flat.mean(0)) / (flat.std(0) + 1)).reshape(out.shape)


class DeadHead(AttributeModulator):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.unused = nn.Linear(2, 2)


class Returns3D:
    def __init__(self):
        pass

    def sample_weights(self, a, r):
        return torch.ones(a.shape[0], 1)

    def class_weights(self, sw, labels, c):
        return torch.ones(c)


@pytest.mark.parametrize(
    ("kind", "cls", "params", "match"),
    [
        (
            "generator",
            SkipsModulation,
            {"hidden": 8},
            r"must call modulation\(j, o_j\) as \[\(0, 8\), \(1, 8\)",
        ),
        (
            "generator",
            BatchWideNorm,
            {"hidden": 8},
            r"vmap over the leading task dim differs from the batched call",
        ),
        ("modulator", DeadHead, {"hidden": 8}, r"unused.weight: no gradient"),
        (
            "quality_weighter",
            Returns3D,
            {},
            r"sample_weights\(a, a_rec\) has shape \(6, 1\), expected \(6,\)",
        ),
        ("critic", MLPGenerator, {}, r"cls\(feature_dim=7, attr_dim=5\) raised"),
    ],
)
def test_contract_checks_catch_breaches(kind, cls, params, match):
    with pytest.raises(ContractError, match=match):
        check_component(kind, cls, **params)


def test_check_component_unknown_kind():
    with pytest.raises(
        ConfigError, match=r"no contract check for kind 'task_sampler'; kinds with checks: generator"
    ):
        check_component("task_sampler", object)
