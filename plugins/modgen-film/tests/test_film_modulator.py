"""Tests of the modgen-film plugin: the modulator's maths, its contract, and its registration."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from modgen_film import FiLMModulation, FiLMModulator, amaz_film
from modgen_film import plugin as film_plugin

from modgen.errors import ConfigError, ShapeError
from modgen.plugins import get_registries


def test_passes_modgen_modulator_contract() -> None:
    from modgen.testing.contracts import check_component

    # check_component raises on any breach of the Modulator protocol; it returning is the pass.
    check_component("modulator", FiLMModulator, hidden=16)
    mod = FiLMModulator(attr_dim=3, target_dims=[5], hidden=8)
    assert isinstance(mod(torch.randn(2, 3)), FiLMModulation)


@settings(max_examples=15, deadline=None)
@given(
    lead=st.lists(st.integers(1, 3), max_size=2),
    n_way=st.integers(1, 4),
    n=st.integers(1, 5),
    dims=st.lists(st.integers(1, 6), min_size=1, max_size=3),
)
def test_is_gamma_times_o_plus_beta_per_task(lead: list[int], n_way: int, n: int, dims: list[int]) -> None:
    gen = torch.Generator().manual_seed(0)
    mod = FiLMModulator(attr_dim=3, target_dims=dims, hidden=8, init_std=0.5)
    attrs = torch.randn(*lead, n_way, 3, generator=gen)
    modulation = mod(attrs)
    for j, d in enumerate(dims):
        o = torch.randn(*lead, n, d, generator=gen)
        out = modulation(j, o)
        gamma, beta = modulation.gammas[j], modulation.betas[j]
        assert gamma.shape == (*lead, 1, d)
        assert out.shape == o.shape
        torch.testing.assert_close(out, gamma * o + beta)


def test_untrained_modulator_is_near_identity() -> None:
    mod = FiLMModulator(attr_dim=4, target_dims=[8], hidden=16)
    o = torch.randn(6, 8)
    out = mod(torch.randn(3, 4))(0, o)
    assert (out - o).abs().max() < 0.1


def test_embedding_ignores_class_order() -> None:
    mod = FiLMModulator(attr_dim=4, target_dims=[8], hidden=16, init_std=0.5)
    attrs = torch.randn(5, 4)
    o = torch.randn(2, 8)
    torch.testing.assert_close(mod(attrs)(0, o), mod(attrs.flip(0))(0, o))


def test_every_parameter_gets_a_gradient() -> None:
    mod = FiLMModulator(attr_dim=4, target_dims=[8, 3], hidden=16)
    modulation = mod(torch.randn(2, 5, 4))
    loss = modulation(0, torch.randn(2, 7, 8)).square().sum() + modulation(1, torch.randn(2, 7, 3)).sum()
    loss.backward()
    missing = [n for n, p in mod.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert missing == []


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"attr_dim": 0, "target_dims": [4]}, r"attr_dim must be a positive integer, got 0"),
        ({"attr_dim": 3, "target_dims": []}, r"target_dims must be a non-empty list .* got \[\]"),
        ({"attr_dim": 3, "target_dims": [4, -1]}, r"target_dims\[1\] must be a positive integer, got -1"),
        ({"attr_dim": 3, "target_dims": [4], "hidden": 2.5}, r"hidden must be a positive integer, got 2.5"),
        ({"attr_dim": 3, "target_dims": [4], "init_std": -1}, r"init_std must be a number >= 0, got -1"),
    ],
)
def test_bad_construction_raises_config_error(params: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        FiLMModulator(**params)


def test_shape_errors_name_the_shapes() -> None:
    mod = FiLMModulator(attr_dim=4, target_dims=[8], hidden=16)
    with pytest.raises(ShapeError, match=r"task_attributes must be \(\.\.\., N, 4\), got shape \(3, 5\)"):
        mod(torch.randn(3, 5))
    modulation = mod(torch.randn(3, 4))
    with pytest.raises(ShapeError, match=r"output 0 has width 7 \(shape \(2, 7\)\), expected 8"):
        modulation(0, torch.randn(2, 7))
    with pytest.raises(ShapeError, match=r"output index j=1 is out of range"):
        modulation(1, torch.randn(2, 8))


def test_registers_modulator_and_recipe_under_plugin_name() -> None:
    regs = get_registries(extra=[("film", film_plugin)], entry_points=False)
    assert regs.failures == []
    assert regs.modulator.entry("film.film").obj is FiLMModulator
    assert regs.modulator.entry("film.film").origin == "film"
    assert regs.recipe.entry("film.amaz-film").origin == "film"


def test_recipe_is_amaz_with_film_modulator() -> None:
    from modgen.recipes import amaz

    spec = amaz_film()
    assert spec.name == "film.amaz-film"
    assert spec.modulator.name == "film.film"
    assert spec.trainer == amaz().trainer
    assert spec.generator == amaz().generator


def test_recipe_resolves_and_presets_size_the_film_modulator() -> None:
    """The digits preset gives every component the widths it takes: FiLM takes ``hidden``."""
    from modgen.assembly import build_assembly
    from modgen.pipeline import resolve_spec

    regs = get_registries(extra=[("film", film_plugin)], entry_points=False)
    spec = resolve_spec(regs, "film.amaz-film", dataset="digits", overrides=["modulator.init_std=0.5"])
    assert spec.modulator.params == {"hidden": 128, "init_std": 0.5}
    asm = build_assembly(spec, regs, attr_dim=4, feature_dim=6, num_classes=3, seed=0)
    assert isinstance(asm.modulator, FiLMModulator)
    with pytest.raises(ConfigError, match=r"modulator.gate: 'film.film' has no parameter 'gate'"):
        resolve_spec(regs, "film.amaz-film", dataset="digits", overrides=["modulator.gate=sigmoid"])
