"""The ``auto`` preset: sizes from the data, for a data set without a preset of its own."""

from __future__ import annotations

import pytest
from data_fixtures import write_tiny_xlsa17
from typer.testing import CliRunner

from modgen.cli import build_app
from modgen.pipeline import data_shapes, resolve_spec
from modgen.recipes import DataShapes, auto_sizes

runner = CliRunner()


def shapes(**changes):
    base = dict(
        feature_dim=1280,
        attr_dim=18,
        samples=1000,
        seen=7,
        train=5,
        min_per_class=100,
        nonnegative=True,
        unit_range=False,
        scalable=True,
    )
    return DataShapes(**{**base, **changes})


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({}, dict(n_way=2, k_support=5, k_query=3, tasks=4, width=128, episodes=600)),
        ({"seen": 40, "train": 27, "samples": 23527}, dict(n_way=10, tasks=10, width=512, episodes=2000)),
        ({"seen": 4, "train": 3, "min_per_class": 2}, dict(n_way=1, k_support=2, k_query=2)),
        ({"train": 0, "seen": 12, "samples": 8000}, dict(n_way=6, width=256, episodes=1200)),
    ],
)
def test_task_shape_widths_and_episodes_follow_the_data(changes, expected):
    sizes = auto_sizes(shapes(**changes))
    assert {key: getattr(sizes, key) for key in expected} == expected


@pytest.mark.parametrize(
    "changes, scaling, activation",
    [
        ({}, "minmax", "sigmoid"),  # pretrained CNN features: min-max to [0, 1], a sigmoid
        ({"unit_range": True}, None, "sigmoid"),  # already in [0, 1]
        ({"scalable": False}, None, "relu"),  # non-negative, the loader cannot scale
        ({"nonnegative": False}, None, "none"),  # signed features keep a linear output
    ],
)
def test_generator_output_matches_the_features(changes, scaling, activation):
    sizes = auto_sizes(shapes(**changes))
    assert (sizes.scaling, sizes.output_activation) == (scaling, activation)
    assert sizes.output_activation in sizes.reason.lower() or "linear" in sizes.reason


@pytest.mark.parametrize(
    "changes, checkpoint, selection",
    [
        ({"seen": 45, "train": 32}, "val", "val"),  # 13 val classes (AWA2's split) to choose on
        ({}, "last", "val"),  # 7 seen, 5 train: 2 val classes, a criterion too noisy for the length
        ({"seen": 6, "train": 5}, "last", "none"),  # one val class: nothing to choose on
        ({"train": 0, "seen": 12}, "last", "none"),  # no validation split
    ],
)
def test_the_training_length_is_chosen_where_there_are_enough_val_classes(changes, checkpoint, selection):
    sizes = auto_sizes(shapes(**changes))
    assert sizes.checkpoint == checkpoint
    assert ("the checkpoint chosen on the 13 val classes" in sizes.reason) == (checkpoint == "val")
    assert sizes.selection == selection
    assert ("too few to choose on" in sizes.reason) == (selection == "none")


def test_auto_sets_the_checkpoint_rule_in_the_spec(registries):
    spec = resolve_spec(registries, "amaz", dataset="digits", overrides=["data.options.features=imagenet"])
    assert spec.evaluation.checkpoint == "last"  # 2 val classes: too few to choose the length on
    own = resolve_spec(
        registries,
        "amaz",
        dataset="digits",
        overrides=["data.options.features=imagenet", "evaluation.checkpoint=val"],
    )
    assert own.evaluation.checkpoint == "val"  # an override still wins
    assert spec.generator.params["attribute_skip"] is True


@pytest.mark.parametrize(
    "recipe, samples, beta1",
    [
        ("amaz", 1000, 1e-3),  # width 128: the meta trainer's own 1e-3, as in the digits preset
        ("zsml", 8000, 5e-4),  # width 256
        ("amaz", 30000, 2.5e-4),  # width 512: 1e-3 diverged on fashion-mnist's ImageNet features
        ("clswgan", 30000, 1e-4),  # the plain trainer's critic is already slower: kept
    ],
)
def test_the_critic_learning_rate_shrinks_with_the_width(registries, recipe, samples, beta1):
    from modgen.recipes import auto_preset, builtin_recipes
    from modgen.train.settings import settings_of

    sizes = auto_sizes(shapes(samples=samples))
    spec = auto_preset(builtin_recipes()[recipe](), registries, shapes=shapes(samples=samples))
    trainer = registries.trainer.get(spec.trainer.name)
    assert settings_of(trainer, spec.trainer.params, name=spec.trainer.name).beta1 == pytest.approx(beta1)
    assert f"the critic's learning rate at most {sizes.critic_lr:g}" in sizes.reason


def test_the_attribute_skip_adds_a_linear_path_and_is_off_in_the_recipes_own_sizes(registries):
    import torch

    from modgen.errors import ConfigError
    from modgen.nn.generator import MLPGenerator

    assert (
        resolve_spec(registries, "amaz", dataset="digits").generator.params.get("attribute_skip", False)
        is False
    )
    g = MLPGenerator(
        attr_dim=3, feature_dim=4, noise_dim=2, hidden=8, dropout=0.0, attribute_skip=True
    ).eval()
    z, a = torch.randn(1, 5, 2), torch.randn(1, 5, 3)
    W = torch.randn(4, 3)
    with torch.no_grad():
        g.skip.weight.zero_()
        g.skip.bias.zero_()
        base = g(z, a)
        g.skip.weight.copy_(W)
        g.skip.bias.fill_(0.5)
        out = g(z, a)
    assert torch.allclose(out - base, a @ W.T + 0.5, atol=1e-5)
    assert MLPGenerator(attr_dim=3, feature_dim=4, noise_dim=2, hidden=8).skip is None
    with pytest.raises(ConfigError, match="attribute_skip must be true or false, got 'yes'"):
        MLPGenerator(attr_dim=3, feature_dim=4, noise_dim=2, hidden=8, attribute_skip="yes")


def test_a_folder_without_a_preset_gets_auto_sizes(registries, tmp_path):
    folder = write_tiny_xlsa17(tmp_path)  # 4 seen classes (3 in the validation view), D=5
    spec = resolve_spec(registries, "amaz", data=str(folder))
    found = data_shapes(spec, registries)
    assert (found.seen, found.train, found.feature_dim) == (4, 3, 5)
    sizes = auto_sizes(found)
    assert spec.task_sampler.params["n_way"] == sizes.n_way == 1
    assert spec.generator.params["hidden"] == sizes.width
    assert spec.trainer.params["episodes"] == sizes.episodes
    assert spec.generator.params["output_activation"] == "sigmoid"  # xlsa17 folders are min-max scaled


def test_a_named_preset_and_the_overrides_still_win(registries, tmp_path):
    folder = write_tiny_xlsa17(tmp_path)
    spec = resolve_spec(registries, "amaz", data=str(folder), overrides=["trainer.episodes=7"])
    assert spec.trainer.params["episodes"] == 7
    small = resolve_spec(registries, "amaz", data=str(folder), preset="small-cpu")
    assert small.generator.params["hidden"] == 512
    assert small.generator.params.get("output_activation", "none") == "none"


def test_embedded_digits_keep_their_preset_but_imagenet_features_get_auto(registries):
    pixels = resolve_spec(registries, "amaz", dataset="digits")
    assert pixels.run.checkpoint_every == 100  # the digits preset
    assert pixels.generator.params.get("output_activation", "none") == "none"
    imagenet = resolve_spec(
        registries,
        "amaz",
        dataset="digits",
        overrides=["data.options.features=imagenet", 'data.options.backbone="tiny"'],
    )
    sizes = auto_sizes(data_shapes(imagenet, registries))
    assert imagenet.generator.params["output_activation"] == sizes.output_activation
    assert imagenet.run.checkpoint_every == sizes.episodes // 10
    assert imagenet.task_sampler.params["n_way"] == 2  # 5 training classes in the validation view


def test_train_prints_what_auto_chose(tmp_path):
    folder = write_tiny_xlsa17(tmp_path)
    result = runner.invoke(
        build_app(),
        ["train", "--recipe", "amaz", "--data", str(folder), "--episodes", "2", "--no-eval"]
        + ["--out", str(tmp_path / "run"), "--set", "generator.hidden=16", "--set", "modulator.hidden=16"],
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("auto preset:")]
    assert len(lines) == 1
    assert "1-way tasks" in lines[0] and "G ends in a sigmoid" in lines[0]


def test_a_folder_with_one_val_class_trains_and_evaluates_under_auto(tmp_path):
    """The issue's promise: any xlsa17-layout folder with at least 4 seen classes runs, evaluation
    included (one val class: nothing to choose the classifiers' settings or the length on)."""
    folder = write_tiny_xlsa17(tmp_path)
    result = runner.invoke(
        build_app(),
        [
            "train",
            "--recipe",
            "amaz",
            "--data",
            str(folder),
            "--episodes",
            "2",
            "--out",
            str(tmp_path / "run"),
        ]
        + ["--set", "generator.hidden=16", "--set", "modulator.hidden=16", "--set", "evaluation.seeds=1"]
        + ["--set", 'evaluation.classifiers=["softmax"]'],
    )
    assert result.exit_code == 0, result.output
    assert "too few to choose on" in result.output
    assert "ZSL top-1" in result.output


def test_auto_modulates_by_the_nearest_seen_classes_task_where_there_is_a_modulator(registries):
    imagenet = ["data.options.features=imagenet"]
    tasks = {
        recipe: resolve_spec(
            registries, recipe, dataset="digits", overrides=imagenet
        ).evaluation.modulation_task
        for recipe in ("amaz", "zsml", "clswgan")
    }
    assert tasks == {"amaz": "nearest_seen", "zsml": "own", "clswgan": "own"}
    # the digits' own preset (64-d pixels) and the recipe's own sizes keep the paper's task
    assert resolve_spec(registries, "amaz", dataset="digits").evaluation.modulation_task == "own"
    # context tasks asked for choose the synthesis task themselves: no conflict with the preset
    ctx = resolve_spec(
        registries, "amaz", dataset="digits", overrides=[*imagenet, "evaluation.context_tasks=5"]
    ).evaluation
    assert (ctx.modulation_task, ctx.context_tasks) == ("own", 5)
    own = resolve_spec(
        registries, "amaz", dataset="digits", overrides=[*imagenet, "evaluation.modulation_task=own"]
    )
    assert own.evaluation.modulation_task == "own"
    assert "nearest seen classes' task" in auto_sizes(shapes()).reason
