"""modgen.assembly: building from recipes, parameter groups, describe, input checks, errors."""

from __future__ import annotations

import pytest
import torch
from attrs import evolve
from rich.console import Console

from modgen.assembly import AWA2_SHAPES, Assembly, build_assembly
from modgen.config import ComponentSpec, apply_overrides
from modgen.errors import ConfigError, DataError, ShapeError, UnknownComponentError
from modgen.nn import AttributeModulator, MLPGenerator, NoModulator
from modgen.pipeline import resolve_spec, validate_spec
from modgen.recipes import TABLE4_VARIANTS, amaz, clswgan, tune, zsml
from modgen.report import assembly_table

#: Small widths, each given to a component only if it takes it (``none`` has no ``hidden``).
SMALL = {
    "generator": {"hidden": 16},
    "modulator": {"hidden": 16},
    "critic": {"hidden": [16, 8]},
    "aux_classifier": {"hidden": [8, 8]},
    "attribute_decoder": {"hidden": [16, 8]},
}


def small(spec, registries):
    return tune(spec, registries, **SMALL)


def build(spec, registries, **kw):
    dims = {"attr_dim": 4, "feature_dim": 6, "num_classes": 3, **kw}
    return build_assembly(small(spec, registries), registries, **dims)


def test_amaz_assembly_components_and_groups(registries):
    asm = build(amaz(), registries)
    assert isinstance(asm, Assembly)
    assert isinstance(asm.generator, MLPGenerator) and isinstance(asm.modulator, AttributeModulator)
    assert (asm.attr_dim, asm.feature_dim, asm.noise_dim, asm.num_classes) == (4, 6, 4, 3)
    assert list(asm.modulator.target_dims) == asm.generator.modulated_dims
    assert type(asm.quality_weighter).__name__ == "CosineQualityWeighter"
    groups = asm.parameter_groups()
    assert set(groups) == {"d", "am", "gc"}
    named = dict(asm.named_parameters())
    assert sorted(n for g in groups.values() for n in g) == sorted(named)
    assert all(named[n] is p for g in groups.values() for n, p in g.items())
    assert {n.split(".")[0] for n in groups["d"]} == {"critic"}
    assert {n.split(".")[0] for n in groups["am"]} == {"modulator", "attribute_decoder"}
    assert {n.split(".")[0] for n in groups["gc"]} == {"generator", "aux_classifier"}
    counts = asm.parameter_counts()
    assert list(counts) == ["generator", "modulator", "critic", "aux_classifier", "attribute_decoder"]
    assert counts["critic"] == sum(p.numel() for p in groups["d"].values())


def test_generator_with_and_without_the_modulation_of_task_attributes(registries):
    asm = build(amaz(), registries).eval()
    z, a, ta = torch.randn(2, 5, 4), torch.randn(2, 5, 4), torch.randn(2, 3, 4)
    modulation = asm.modulation(ta)
    assert modulation is not None
    x = asm.generator(z, a, modulation)
    assert x.shape == (2, 5, 6)
    assert not torch.allclose(asm.generator(z, a, None), x)
    # the baselines' modulator returns None: G runs unmodulated whatever the task
    base = build(zsml(), registries).eval()
    assert base.modulation(ta) is None


@pytest.mark.parametrize("recipe", [zsml, clswgan])
def test_baselines_are_unmodulated(registries, recipe):
    asm = build(recipe(), registries)  # tune() leaves the modulator's hidden=16 out: none takes it
    assert small(recipe(), registries).modulator.params == {}
    assert isinstance(asm.modulator, NoModulator)
    assert asm.parameter_counts()["modulator"] == 0
    assert asm.parameter_groups()["am"].keys() == {
        k for k, _ in asm.attribute_decoder.named_parameters(prefix="attribute_decoder")
    }


@pytest.mark.parametrize("name", sorted(TABLE4_VARIANTS))
def test_table4_recipes_build(registries, name):
    asm = build(registries.recipe.get(name)(), registries)
    p = TABLE4_VARIANTS[name]
    m = asm.modulator
    assert (m.base, m.operator, m.gate, m.bias) == (p["base"], p["operator"], p["gate"], p["bias"])
    x = asm.generator(torch.randn(4, 4), torch.randn(4, 4), asm.modulation(torch.randn(2, 4)))
    assert x.shape == (4, 6)


def test_noise_dim_rule(registries):
    assert build(amaz(), registries).noise_dim == 4  # no generator.noise_dim (or 0) -> A
    spec = apply_overrides(amaz(), ["generator.noise_dim=7"])
    asm = build(spec, registries)
    assert asm.noise_dim == 7 and asm.generator.noise_dim == 7
    assert build(spec, registries, noise_dim=2).noise_dim == 2
    with pytest.raises(ConfigError, match=r"generator.noise_dim: expected an integer >= 0 .* got -1"):
        build(apply_overrides(amaz(), ["generator.noise_dim=-1"]), registries)


@pytest.mark.parametrize("recipe", [amaz, zsml, clswgan])
def test_presets_build_with_list_hidden(registries, recipe):
    spec = registries.preset.get("digits")(recipe(), registries)
    assert validate_spec(spec, registries) == resolve_spec(registries, recipe.__name__, dataset="digits")
    asm = build_assembly(spec, registries, attr_dim=5, feature_dim=9, num_classes=7)
    assert asm.critic.hidden == (128, 64)


@pytest.mark.parametrize("param", ["hidden", "hiden"])
def test_no_modulator_takes_no_params(registries, param):
    spec = apply_overrides(zsml(), [f"modulator.{param}=3"])
    with pytest.raises(
        ConfigError, match=rf"modulator 'none': unknown parameter '{param}'. Accepted parameters: \(none\)"
    ):
        build_assembly(spec, registries, attr_dim=4, feature_dim=6, num_classes=3)


def test_seed_makes_weights_reproducible_without_touching_global_rng(registries):
    state = torch.get_rng_state()
    a1 = build(amaz(), registries, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    a2 = build(amaz(), registries, seed=3)
    for (n1, p1), (_, p2) in zip(a1.named_parameters(), a2.named_parameters(), strict=True):
        assert torch.equal(p1, p2), n1


def test_each_network_has_its_own_seed_stream(registries):
    """Another modulator (or critic width) does not shift the generator's initial weights."""
    amaz_asm, zsml_asm = build(amaz(), registries, seed=5), build(zsml(), registries, seed=5)
    wider = build_assembly(
        apply_overrides(small(amaz(), registries), ["critic.hidden=[32, 8]"]),
        registries,
        attr_dim=4,
        feature_dim=6,
        num_classes=3,
        seed=5,
    )
    for other in (zsml_asm, wider):
        for (name, p), (_, q) in zip(
            amaz_asm.generator.named_parameters(), other.generator.named_parameters(), strict=True
        ):
            assert torch.equal(p, q), name
    other_seed = build(amaz(), registries, seed=6)
    assert not torch.equal(amaz_asm.generator.fdl.fc.weight, other_seed.generator.fdl.fc.weight)


def test_awa2_describe_on_meta_device(registries):
    asm = build_assembly(amaz(), registries, device="meta", **AWA2_SHAPES)
    assert all(p.device.type == "meta" for p in asm.parameters())
    counts = asm.parameter_counts()
    A, D, Z, h = 85, 2048, 85, 2048
    g = (Z + A) * h + h + 2 * (h * h + 2 * h) + h * D + D  # FDL, 2 x FBD (no FC bias), FC(D)
    assert counts["generator"] == g
    console = Console(width=200, record=True)
    console.print(assembly_table(asm))
    text = console.export_text()
    assert "Assembly 'amaz': A=85, D=2048, Z=85, C=40" in text
    assert f"{g:,}" in text and f"{sum(counts.values()):,}" in text
    assert "x (2048) -> logits (40)" in text


def test_check_inputs(registries):
    asm = build(amaz(), registries)
    asm.check_inputs(features=torch.zeros(2, 6), attributes=torch.zeros(2, 4), labels=torch.tensor([0, 2]))
    with pytest.raises(ShapeError, match=r"features have shape \(2, 5\), but the assembly was built for D=6"):
        asm.check_inputs(features=torch.zeros(2, 5))
    with pytest.raises(
        ShapeError, match=r"task_attributes have shape \(3, 2\), but the assembly was built for A=4"
    ):
        asm.check_inputs(task_attributes=torch.zeros(3, 2))
    with pytest.raises(ShapeError, match=r"features have shape \(2, 6\) but attributes \(3, 4\)"):
        asm.check_inputs(features=torch.zeros(2, 6), attributes=torch.zeros(3, 4))
    with pytest.raises(ShapeError, match=r"labels must be integer class indices, got dtype torch.float32"):
        asm.check_inputs(labels=torch.zeros(2))
    with pytest.raises(DataError, match=r"labels range over \[0, 3\], but .* num_classes=3"):
        asm.check_inputs(labels=torch.tensor([0, 3]))


def test_unknown_component_gives_registry_error(registries):
    spec = evolve(amaz(), modulator=ComponentSpec("atribute"))
    with pytest.raises(
        UnknownComponentError, match=r"Can't find 'atribute' in registry 'modulator'.*Did you mean: attribute"
    ):
        build(spec, registries)


@pytest.mark.parametrize(
    ("override", "match"),
    [
        (
            "generator.hiden=8",
            r"generator 'mlp': unknown parameter 'hiden'. Accepted parameters: .*, hidden, .* Did you mean 'hidden'\?",
        ),
        ("critic.hidden=0", r"critic 'mlp': MLPCritic: hidden must be a list of positive integers, got 0"),
        (
            'modulator.gate="tanh"',
            r"modulator 'attribute': AttributeModulator: gate must be one of .* got 'tanh'",
        ),
        (
            "aux_classifier.num_classes=5",
            r"aux_classifier 'mlp': parameter 'num_classes' is set by modgen \(num_classes=3\)",
        ),
        (
            'quality_weighter.clamp_min="x"',
            r"quality_weighter 'cosine': CosineQualityWeighter: clamp_min must be a number",
        ),
    ],
)
def test_bad_params_name_kind_component_and_parameter(registries, override, match):
    spec = apply_overrides(small(amaz(), registries), [override])
    with pytest.raises(ConfigError, match=match):
        build_assembly(spec, registries, attr_dim=4, feature_dim=6, num_classes=3)


def test_bad_dims(registries):
    with pytest.raises(ConfigError, match=r"build_assembly: feature_dim must be a positive integer, got 0"):
        build_assembly(amaz(), registries, attr_dim=3, feature_dim=0, num_classes=2)
