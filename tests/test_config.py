"""modgen.config: frozen specs, TOML round trips, ``--set`` overrides and the errors naming the key;
the trainers' settings (modgen.train.settings) that validate ``trainer.params``."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from modgen.config import (
    SELECTION_MODES,
    ComponentSpec,
    DataConfig,
    EvalConfig,
    RecipeSpec,
    RunConfig,
    apply_overrides,
    parse_override,
    spec_from_dict,
    spec_from_toml,
    spec_to_dict,
    spec_to_toml,
)
from modgen.errors import ConfigError
from modgen.pipeline import resolve_spec, validate_spec
from modgen.train.settings import MetaSettings, PlainSettings, trainer_settings

keys = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
scalars = st.one_of(
    st.booleans(), st.integers(-(2**40), 2**40), st.floats(allow_nan=False, allow_infinity=False), text
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3), max_leaves=6)
# an empty table as a value is left out: see test_an_empty_table_parameter_survives_the_config_file
tables = st.dictionaries(keys, scalars, min_size=1, max_size=2)
params = st.dictionaries(keys, st.one_of(values, tables), max_size=4)
names = st.from_regex(r"[a-z][a-z0-9_.\-]{0,10}", fullmatch=True)
components = st.builds(ComponentSpec, name=names, params=params)

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
        options=params,
    ),
    generator=components,
    modulator=components,
    task_sampler=components,
    trainer=components,
    evaluation=st.builds(
        EvalConfig,
        classifiers=st.lists(st.sampled_from(["svm", "softmax", "x.y"]), min_size=1, max_size=3).map(tuple),
        sigma_test=st.floats(0, 10),
        gzsl_seen=st.sampled_from(["real", "synthetic"]),
        selection=st.sampled_from(SELECTION_MODES),
        retrieval_k=st.lists(st.integers(1, 50), max_size=3).map(tuple),
        seeds=st.integers(1, 10),
        classifier_params=st.dictionaries(keys, tables, max_size=2),
    ),
    run=st.builds(
        RunConfig,
        seed=st.integers(0, 2**63 - 1),
        device=st.sampled_from(["auto", "cpu", "cuda", "cuda:1"]),
        threads=st.integers(0, 64),
        log_every=st.integers(1, 10**4),
        checkpoint_every=st.integers(0, 10**4),
    ),
)


@given(specs)
def test_toml_round_trip(spec):
    assert spec_from_toml(spec_to_toml(spec)) == spec
    assert spec_from_dict(RecipeSpec, spec_to_dict(spec)) == spec


def test_empty_tables_are_left_out_of_the_toml():
    toml = spec_to_toml(RecipeSpec(name="r"))
    assert '[trainer]\nname = "meta"\n' in toml and "[trainer.params]" not in toml
    assert "[run]" in toml and "seed = 0" in toml


def test_overrides_set_nested_keys_and_component_params():
    spec = apply_overrides(
        RecipeSpec(name="r"),
        [
            "trainer.episodes=200",
            "generator.hidden=64",
            "generator.noise_dim=32",
            "modulator.params.gate=softmax",
            "evaluation.gzsl_seen=real",
            "critic=mine",
            "trainer.first_order=false",
            "run.seed=4",
            "run.device=cuda:1",
        ],
    )
    assert spec.trainer == ComponentSpec("meta", {"episodes": 200, "first_order": False})
    assert spec.generator.params == {"hidden": 64, "noise_dim": 32}
    assert spec.modulator.params["gate"] == "softmax"
    assert spec.evaluation.gzsl_seen == "real"
    assert spec.critic == ComponentSpec("mine")
    assert (spec.run.seed, spec.run.device) == (4, "cuda:1")


def test_naming_a_component_resets_its_params_and_name_alone_keeps_them():
    spec = apply_overrides(RecipeSpec(name="r"), ["trainer.episodes=200", "task_sampler.n_way=3"])
    assert apply_overrides(spec, ["trainer=plain"]).trainer == ComponentSpec("plain")
    renamed = apply_overrides(spec, ["task_sampler.name=diverse.attribute-diverse"]).task_sampler
    assert renamed == ComponentSpec("diverse.attribute-diverse", {"n_way": 3})


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("nothing=1", r"Unknown key 'nothing'. Valid keys: name, description"),
        ("run.sed=3", r"Unknown key 'run.sed'. Valid keys of 'run': seed, device"),
        ("run.device=gpu", r"run.device: expected auto, cpu, cuda or cuda:N, got 'gpu'"),
        ("run.seed=-1", r"run.seed: expected an integer >= 0, got -1"),
        ("run.seed=true", r"run.seed: expected an integer, got True"),
        ("evaluation.gzsl_seen=both", r"evaluation.gzsl_seen: expected one of synthetic, real, got 'both'"),
        ("evaluation.selection=train", r"evaluation.selection: expected one of val, none, test, got 'train'"),
        ("evaluation.seeds=0", r"evaluation.seeds: expected an integer >= 1, got 0"),
        ("evaluation.classifiers=[]", r"evaluation.classifiers: expected a non-empty list"),
        ("trainer=3", r"--set trainer: expected a component name, got 3"),
        ("run=3", r"'run' is a table; set one of its keys, e.g. run.<key>="),
        ("run.seed.x=3", r"'seed' is a value, not a table"),
        ("episodes", r"--set 'episodes': expected key=value"),
        ("=3", r"the key '' is empty or malformed"),
        ("x.y=[1, 2", r"'\[1, 2' is not a valid value; write numbers, true/false"),
    ],
)
def test_bad_overrides_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        apply_overrides(RecipeSpec(name="r"), [override])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "trainer.epsiodes=3",
            r"trainer 'meta': unknown parameter 'epsiodes' \(trainer.epsiodes\). Accepted: episodes, ",
        ),
        ("trainer.episodes=abc", r"trainer 'meta': trainer.episodes: expected an integer, got 'abc'"),
        ("trainer.episodes=0", r"trainer 'meta': trainer.episodes: expected an integer >= 1, got 0"),
        ("trainer.adaptation=foo", r"trainer.adaptation: expected one of batch, task, got 'foo'"),
        ("trainer.device=gpu", r"unknown parameter 'device' \(trainer.device\).* It moved to 'run.device'"),
        ("trainer.seed=3", r"unknown parameter 'seed' \(trainer.seed\).* It moved to 'run.seed'"),
        ("trainer.noise_dim=4", r"It moved to 'generator.noise_dim'"),
        ("trainer.batch_size=8", r"trainer 'meta': unknown parameter 'batch_size'"),
        ("trainer.critic_iters=2", r"trainer 'meta': unknown parameter 'critic_iters'"),
        ("generator.hiden=3", r"generator.hiden: 'mlp' has no parameter 'hiden'.* Did you mean 'hidden'\?"),
        ("data.options.hidden=3", r"data.options.hidden: 'digits' has no parameter 'hidden'"),
        (
            "evaluation.classifier_params.svm.Cc=2",
            r"evaluation.classifier_params.svm.Cc: 'svm' has no parameter 'Cc'.* Did you mean 'C'\?",
        ),
        (
            "evaluation.classifier_params.knn.k=2",
            r"evaluation.classifier_params.knn: 'knn' is not in evaluation.classifiers",
        ),
    ],
)
def test_what_only_the_registries_know_is_checked_when_the_spec_is_resolved(registries, override, message):
    """apply_overrides knows the spec's shape; component and trainer parameters are checked by
    validate_spec (through resolve_spec), against what each registered component accepts."""
    apply_overrides(RecipeSpec(name="r"), [override])  # the shape is fine
    with pytest.raises(ConfigError, match=message):
        resolve_spec(registries, "amaz", dataset="digits", overrides=[override])


def test_validated_spec_records_every_trainer_setting(registries):
    spec = resolve_spec(registries, "amaz", dataset="digits", overrides=["trainer.episodes=7"])
    defaults = attrs.asdict(MetaSettings())
    assert set(spec.trainer.params) == set(defaults)
    assert spec.trainer.params["episodes"] == 7 and spec.trainer.params["alpha1"] == defaults["alpha1"]
    assert validate_spec(spec, registries) == spec  # normalising twice changes nothing
    plain = resolve_spec(registries, "clswgan", dataset="digits", overrides=["trainer.batch_size=8"])
    assert plain.trainer.params["batch_size"] == 8 and plain.trainer.params["beta1"] == 1e-4


def test_trainer_settings_validate_each_trainer_on_its_own():
    assert trainer_settings(PlainSettings, {"critic_iters": 2}, name="plain").critic_iters == 2
    assert trainer_settings(MetaSettings, {}, name="meta") == MetaSettings()
    with pytest.raises(ConfigError, match=r"trainer 'meta': unknown parameter 'critic_iters'"):
        trainer_settings(MetaSettings, {"critic_iters": 2}, name="meta")
    with pytest.raises(ConfigError, match=r"trainer 'plain': trainer.adam_betas: expected two numbers"):
        trainer_settings(PlainSettings, {"adam_betas": [0.5, 1.5]}, name="plain")


def test_parse_override_values():
    assert parse_override("a.b=1.5") == (["a", "b"], 1.5)
    assert parse_override("a=[1, 2]") == (["a"], [1, 2])
    assert parse_override("a=hello world") == (["a"], "hello world")
    assert parse_override('a="x=y"') == (["a"], "x=y")
    assert parse_override("a={b = 1}") == (["a"], {"b": 1})


def test_invalid_toml_names_the_source():
    with pytest.raises(ConfigError, match=r"run/config.toml: invalid TOML"):
        spec_from_toml("name = ", source="run/config.toml")


def test_unknown_toml_key():
    with pytest.raises(
        ConfigError, match=r"c.toml: Unknown config key 'trainer.lr'. Valid keys of 'trainer'"
    ):
        spec_from_toml('name = "x"\n[trainer]\nname = "meta"\nlr = 3\n', source="c.toml")
    with pytest.raises(ConfigError, match=r"Unknown config key 'trainer.seed'.* It moved to 'run.seed'"):
        spec_from_toml('name = "x"\n[trainer]\nname = "meta"\nseed = 3\n')
    with pytest.raises(ConfigError, match=r"c.toml: run.seed: expected an integer, got 1.5"):
        spec_from_toml('name = "x"\n[run]\nseed = 1.5\n', source="c.toml")


def test_an_old_format_config_file_is_told_where_its_trainer_settings_went():
    old = 'name = "x"\n[trainer]\nname = "meta"\nalpha1 = 0.001\nepisodes = 100\nseed = 0\n'
    with pytest.raises(ConfigError, match=r"trainer.params"):
        spec_from_toml(old, source="old/config.toml")


def test_an_empty_table_parameter_survives_the_config_file():
    spec = apply_overrides(RecipeSpec(name="r"), ["evaluation.classifier_params.svm.grid={}"])
    assert spec.evaluation.classifier_params == {"svm": {"grid": {}}}
    assert spec_from_toml(spec_to_toml(spec)) == spec


def test_nonfinite_param_rejected():
    with pytest.raises(ConfigError, match=r"params.x: inf is not a finite number"):
        ComponentSpec("g", {"x": float("inf")})


def test_specs_are_frozen():
    spec = RecipeSpec(name="r")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        spec.name = "other"  # type: ignore[misc]
    assert spec_from_dict(RecipeSpec, {"name": "r", "critic": "x"}).critic == ComponentSpec("x")
