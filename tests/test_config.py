from __future__ import annotations

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from modgen.config import (
    ComponentSpec,
    DataConfig,
    EvalConfig,
    RecipeSpec,
    TrainConfig,
    apply_overrides,
    parse_override,
    spec_from_dict,
    spec_from_toml,
    spec_to_toml,
)
from modgen.errors import ConfigError

keys = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
scalars = st.one_of(
    st.booleans(), st.integers(-(2**40), 2**40), st.floats(allow_nan=False, allow_infinity=False), text
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3), max_leaves=6)
params = st.dictionaries(keys, st.one_of(values, st.dictionaries(keys, scalars, max_size=2)), max_size=4)
components = st.builds(
    ComponentSpec, name=st.from_regex(r"[a-z][a-z0-9_.\-]{0,10}", fullmatch=True), params=params
)

specs = st.builds(
    RecipeSpec,
    name=text,
    description=text,
    data=st.builds(
        DataConfig,
        dataset=st.sampled_from(["digits", "xlsa17", "fashion-mnist"]),
        root=text,
        semantics=st.sampled_from(["att", "original_att", "sent"]),
        validation=st.booleans(),
    ),
    generator=components,
    modulator=components,
    task_sampler=components,
    trainer=st.builds(
        TrainConfig,
        episodes=st.integers(1, 10**6),
        alpha1=st.floats(0, 1),
        beta2=st.floats(0, 1),
        first_order=st.booleans(),
        adaptation=st.sampled_from(["batch", "task"]),
        device=st.sampled_from(["auto", "cpu", "cuda", "cuda:1"]),
        options=params,
    ),
    evaluation=st.builds(
        EvalConfig,
        classifiers=st.lists(st.sampled_from(["svm", "softmax", "x.y"]), min_size=1, max_size=3).map(tuple),
        gzsl_seen=st.sampled_from(["real", "synthetic"]),
        retrieval_k=st.lists(st.integers(1, 50), max_size=3).map(tuple),
    ),
)


@given(specs)
def test_toml_round_trip(spec):
    assert spec_from_toml(spec_to_toml(spec)) == spec


def test_overrides_set_nested_keys_and_component_params():
    spec = apply_overrides(
        RecipeSpec(name="r"),
        [
            "trainer.episodes=200",
            "generator.hidden=64",
            "modulator.params.gate=softmax",
            "evaluation.gzsl_seen=real",
            "critic=mine",
            "trainer.first_order=false",
        ],
    )
    assert spec.trainer.episodes == 200
    assert spec.generator.params == {"hidden": 64}
    assert spec.modulator.params["gate"] == "softmax"
    assert spec.evaluation.gzsl_seen == "real"
    assert spec.critic == ComponentSpec("mine")
    assert spec.trainer.first_order is False


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "trainer.epsiodes=3",
            r"Unknown config key 'trainer.epsiodes'. Valid keys under 'trainer': name, episodes",
        ),
        ("nothing=1", r"Unknown config key 'nothing'. Valid keys: name, description"),
        ("trainer.episodes=abc", r"trainer.episodes: expected an integer, got 'abc'"),
        ("trainer.episodes=0", r"trainer: 'episodes' must be > 0: 0"),
        ("trainer.device=gpu", r"trainer.device: expected auto, cpu, cuda or cuda:N, got 'gpu'"),
        ("evaluation.gzsl_seen=both", r"evaluation: .*gzsl_seen"),
        ("trainer=3", r"'trainer' is a table; set one of its keys"),
        ("trainer.episodes.x=3", r"'episodes' is a value, not a table"),
        ("episodes", r"must look like key=value"),
        ("=3", r"the key '' is empty or malformed"),
    ],
)
def test_bad_overrides_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        apply_overrides(RecipeSpec(name="r"), [override])


def test_parse_override_values():
    assert parse_override("a.b=1.5") == (["a", "b"], 1.5)
    assert parse_override("a=[1, 2]") == (["a"], [1, 2])
    assert parse_override("a=hello world") == (["a"], "hello world")
    assert parse_override('a="x=y"') == (["a"], "x=y")


def test_invalid_toml_names_the_source():
    with pytest.raises(ConfigError, match=r"run/config.toml: invalid TOML"):
        spec_from_toml("name = ", source="run/config.toml")


def test_unknown_toml_key():
    with pytest.raises(ConfigError, match=r"Unknown config key 'trainer.lr'"):
        spec_from_toml('name = "x"\n[trainer]\nlr = 3\n')


def test_nonfinite_param_rejected():
    with pytest.raises(ConfigError, match=r"params.x: inf is not a finite number"):
        ComponentSpec("g", {"x": float("inf")})


def test_specs_are_frozen():
    spec = RecipeSpec(name="r")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        spec.name = "other"  # type: ignore[misc]
    assert spec_from_dict(RecipeSpec, {"name": "r", "critic": "x"}).critic == ComponentSpec("x")
