"""The network kinds' contract checks: leading dims, and breaches they catch (every registered
component of every kind is checked in test_contracts.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from modgen.nn import AttributeModulator, MLPGenerator
from modgen.plugins import get_registries
from modgen.testing.contracts import ContractError, check_component
from modgen.testing.presets import TINY_SIZES

NETWORK_KINDS = (
    "generator",
    "modulator",
    "critic",
    "aux_classifier",
    "attribute_decoder",
    "quality_weighter",
)
SMALL = {kind: TINY_SIZES.get(kind, {}) for kind in NETWORK_KINDS}


@pytest.mark.parametrize("leading", [(), (3,), (2, 2)])
def test_generator_contract_over_leading_dims(leading):
    g = check_component("generator", MLPGenerator, hidden=8, leading=leading, n=3, output_activation="relu")
    assert g.modulated_dims[-1] == 7


@pytest.mark.cuda
def test_network_contracts_on_cuda():
    regs = get_registries(entry_points=False)
    for kind in NETWORK_KINDS:
        for entry in regs.kind(kind).entries():
            params = {
                k: v for k, v in SMALL[kind].items() if k in (regs.kind(kind).accepts(entry.name) or {k})
            }
            check_component(kind, entry.obj, device="cuda", **params)


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
