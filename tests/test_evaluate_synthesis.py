"""Synthesis: shapes, each class its own task (Section II-E), eval mode, determinism, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from modgen.assembly import build_assembly
from modgen.config import apply_overrides
from modgen.errors import ConfigError, ShapeError
from modgen.evaluate import synthesize
from modgen.plugins import get_registries
from modgen.recipes import amaz

A, D, N_REP = 5, 7, 4


@pytest.fixture(scope="module")
def assembly():
    spec = apply_overrides(amaz(), ["generator.hidden=32", "modulator.hidden=16"])
    return build_assembly(
        spec, get_registries(entry_points=False), attr_dim=A, feature_dim=D, num_classes=3, seed=0
    )


def class_attributes(c: int = 3) -> torch.Tensor:
    return torch.rand(c, A, generator=torch.Generator().manual_seed(11))


def test_shapes_labels_and_reconstruction(assembly):
    out = synthesize(assembly, class_attributes(3), 6, generator=torch.Generator().manual_seed(0))
    assert out.features.shape == (18, D)
    assert out.reconstructed is not None and out.reconstructed.shape == (18, A)
    assert out.labels.tolist() == [0] * 6 + [1] * 6 + [2] * 6
    assert out.labels.dtype == torch.int64
    # AD runs in eval mode on each class's features as one task, like G
    assembly.eval()
    with torch.no_grad():
        expected = assembly.attribute_decoder(out.features.reshape(3, 6, D)).reshape(18, A)
    assembly.train()
    torch.testing.assert_close(out.reconstructed, expected)


def test_each_class_is_its_own_task(assembly):
    """Class b's features are G(z_b, a_b) modulated by the task [a_b] * N alone."""
    attrs = class_attributes(2)
    n = 6
    out = synthesize(
        assembly, attrs, n, sigma=0.7, generator=torch.Generator().manual_seed(3), replicate=N_REP
    )
    gen = torch.Generator().manual_seed(3)
    _, z_b = torch.randn((n, A), generator=gen), torch.randn((n, A), generator=gen)
    a_b = attrs[1]
    assembly.eval()
    with torch.no_grad():
        modulation = assembly.modulator(a_b.expand(1, N_REP, A))
        x_b = assembly.generator(0.7 * z_b[None], a_b.expand(1, n, A), modulation)[0]
    assembly.train()
    torch.testing.assert_close(out.features[n:], x_b)
    # and the batching over classes does not matter: one class per chunk gives the same
    chunked = synthesize(
        assembly,
        attrs,
        n,
        sigma=0.7,
        generator=torch.Generator().manual_seed(3),
        replicate=N_REP,
        chunk_classes=1,
    )
    torch.testing.assert_close(chunked.features, out.features)


def test_deterministic_and_sigma_zero_collapses_each_class(assembly):
    attrs = class_attributes(3)
    assembly.train()  # synthesis switches dropout off itself, and restores the mode after
    a = synthesize(assembly, attrs, 5, generator=torch.Generator().manual_seed(1))
    b = synthesize(assembly, attrs, 5, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a.features, b.features)  # dropout is off: eval mode
    assert assembly.training and assembly.generator.training
    flat = synthesize(assembly, attrs, 5, sigma=0.0, generator=torch.Generator().manual_seed(1))
    per_class = flat.features.reshape(3, 5, D)
    torch.testing.assert_close(per_class, per_class[:, :1].expand_as(per_class))
    assert not torch.allclose(per_class[0, 0], per_class[1, 0])


class _RecordingModulator(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[tuple[int, ...], bool]] = []

    def forward(self, task_attributes):
        self.seen.append((tuple(task_attributes.shape), self.training))
        return lambda j, o: o + 1.0 if j == 0 else o


class _StandIn(nn.Module):
    """A stand-in assembly: linear G, a recording modulator, no attribute decoder."""

    def __init__(self) -> None:
        super().__init__()
        self.generator_net = nn.Linear(2 + 3, 4)
        self.modulator = _RecordingModulator()
        self.attribute_decoder = None
        self.quality_weighter = None
        self.attr_dim, self.feature_dim, self.noise_dim = 3, 4, 2

    def generator(self, z, a, modulation):
        o = torch.cat([z, a], -1)
        return self.generator_net(modulation(0, o) if modulation is not None else o)


def test_stand_in_modulator_sees_replicated_tasks_in_eval_mode():
    asm = _StandIn()
    asm.train()
    out = synthesize(
        asm, torch.ones(4, 3), 2, generator=torch.Generator().manual_seed(0), replicate=7, chunk_classes=3
    )
    assert asm.modulator.seen == [((3, 7, 3), False), ((1, 7, 3), False)]
    assert asm.training and asm.modulator.training  # modes restored
    assert out.reconstructed is None and out.features.shape == (8, 4)


def test_synthesis_errors(assembly):
    gen = torch.Generator().manual_seed(0)
    with pytest.raises(
        ShapeError,
        match=r"class_attributes must be \(C, 5\) \(one attribute row per class\), got shape \(3, 4\)",
    ):
        synthesize(assembly, torch.ones(3, 4), 2, generator=gen)
    with pytest.raises(ConfigError, match=r"synthesize: n_per_class must be an integer >= 1, got 0"):
        synthesize(assembly, torch.ones(3, A), 0, generator=gen)
    with pytest.raises(ConfigError, match=r"synthesize: sigma must be a number >= 0, got -1.0"):
        synthesize(assembly, torch.ones(3, A), 2, sigma=-1.0, generator=gen)
