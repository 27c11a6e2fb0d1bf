from __future__ import annotations

import types

import pytest
from typer.testing import CliRunner

from modgen import __version__, hookimpl
from modgen.cli import build_app
from modgen.config import spec_from_toml
from modgen.plugins import get_registries

runner = CliRunner()


@pytest.fixture
def app(registries):
    return build_app(registries, plugin_commands=False)


def test_version(app):
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"modgen {__version__}"


def test_list_shows_every_kind_and_recipes(app):
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0, result.output
    for kind in ("generator", "modulator", "critic", "task_sampler", "final_classifier", "recipe"):
        assert kind in result.output
    assert "amaz" in result.output and "builtin" in result.output


def test_list_unknown_kind_exits_2(app):
    result = runner.invoke(app, ["list", "widgets"])
    assert result.exit_code == 2
    assert "Unknown component kind 'widgets'" in result.output
    assert "Traceback" not in result.output


def test_recipe_show_prints_resolved_toml(app):
    result = runner.invoke(app, ["recipe", "show", "amaz", "--set", "trainer.episodes=7"])
    assert result.exit_code == 0, result.output
    spec = spec_from_toml(result.output)
    assert spec.name == "amaz" and spec.trainer.params["episodes"] == 7
    # what `modgen train --recipe amaz` runs: the embedded digits data with its preset, and the
    # modulator's own defaults as built (the resolved spec records every parameter)
    assert spec.modulator.params == {
        "base": True,
        "operator": "add",
        "gate": "sigmoid",
        "bias": True,
        "hidden": 128,
        "leaky_slope": 0.2,
        "dropout": 0.5,
        "shift_before_bn": "keep",
    }
    assert spec.data.dataset == "digits"


def test_recipe_show_dataset_preset(app, tmp_path):
    result = runner.invoke(app, ["recipe", "show", "amaz", "--dataset", "CUB", "--data", str(tmp_path)])
    assert result.exit_code == 0, result.output
    spec = spec_from_toml(result.output)
    assert (
        spec.trainer.params["episodes"] == 25000 and spec.data.dataset == "xlsa17" and spec.data.name == "CUB"
    )


def test_xlsa17_dataset_without_its_folder_is_an_error(app):
    result = runner.invoke(app, ["recipe", "show", "amaz", "--dataset", "CUB"])
    assert result.exit_code == 2 and "add --data" in result.output and "Traceback" not in result.output


def test_unknown_recipe_exits_2_and_lists_names(app):
    result = runner.invoke(app, ["recipe", "show", "amza"])
    assert result.exit_code == 2
    assert "Can't find 'amza' in registry 'recipe'. Available names: amaz" in result.output
    assert "Did you mean: amaz" in result.output
    assert "Traceback" not in result.output


def test_bad_override_exits_2_naming_key(app):
    result = runner.invoke(app, ["recipe", "show", "amaz", "--set", "trainer.epsiodes=3"])
    assert result.exit_code == 2
    assert "unknown parameter 'epsiodes' (trainer.epsiodes)" in result.output
    assert "Did you mean 'episodes'?" in result.output
    moved = runner.invoke(app, ["recipe", "show", "amaz", "--set", "trainer.seed=3"])
    assert moved.exit_code == 2 and "It moved to 'run.seed'" in moved.output
    bad = runner.invoke(app, ["recipe", "show", "amaz", "--set", "run.sed=3"])
    assert bad.exit_code == 2 and "Unknown key 'run.sed'" in bad.output


def test_recipe_show_output_trains_the_same_spec(app, registries, tmp_path):
    from modgen.pipeline import resolve_spec

    shown = runner.invoke(app, ["recipe", "show", "zsml", "--dataset", "digits"])
    assert shown.exit_code == 0, shown.output
    path = tmp_path / "x.toml"
    path.write_text(shown.output, encoding="utf-8")
    assert resolve_spec(registries, config=path) == resolve_spec(registries, "zsml", dataset="digits")


def test_plugins_command_shows_failures():
    @hookimpl
    def modgen_register_components(registries):
        raise RuntimeError("kaboom")

    bad = types.SimpleNamespace(modgen_register_components=modgen_register_components)
    with pytest.warns(UserWarning):
        regs = get_registries([("bad", bad)], entry_points=False)
    app = build_app(regs, plugin_commands=False)
    result = runner.invoke(app, ["plugins"])
    assert result.exit_code == 0
    assert "builtin" in result.output and "bad" in result.output and "kaboom" in result.output
    listed = runner.invoke(app, ["list", "recipe"])
    assert listed.exit_code == 0 and "amaz" in listed.output
    assert "1 plugin(s) failed" in listed.output


def test_plugin_can_add_a_command(monkeypatch):
    import typer

    @hookimpl
    def modgen_register_commands(app: typer.Typer):
        @app.command("hello")
        def hello() -> None:
            typer.echo("hello from plugin")

    plugin = types.SimpleNamespace(modgen_register_commands=modgen_register_commands)

    class EP:
        name = "greeter"

        @staticmethod
        def load():
            return plugin

    monkeypatch.setattr("modgen.plugins._entry_points", lambda: [EP()])
    app = build_app()
    result = runner.invoke(app, ["hello"])
    assert result.exit_code == 0
    assert "hello from plugin" in result.output


def test_plugin_command_name_clash_is_rejected(monkeypatch):
    import typer

    @hookimpl
    def modgen_register_commands(app: typer.Typer):
        @app.command("list")
        def hijack() -> None:
            typer.echo("hijacked")

    plugin = types.SimpleNamespace(modgen_register_commands=modgen_register_commands)

    class EP:
        name = "hijacker"

        @staticmethod
        def load():
            return plugin

    monkeypatch.setattr("modgen.plugins._entry_points", lambda: [EP()])
    with pytest.warns(
        UserWarning,
        match=r"plugin 'hijacker' failed in hook modgen_register_commands: .*'list' is already taken",
    ):
        app = build_app()
    result = runner.invoke(app, ["list", "recipe"])
    assert result.exit_code == 0 and "hijacked" not in result.output and "amaz" in result.output


def _commands(command, path=()):
    """``(path, click command)`` of ``command`` and every command below it."""
    yield list(path), command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def test_every_help_is_plain_text_with_whole_sentences(app):
    """--help of every command: no reST markup, and the command lists show each command's whole
    first sentence (click's default cut ``plot losses`` at "(Fig." and long ones at "...")."""
    import re

    import typer

    walked = list(_commands(typer.main.get_command(app)))
    assert len(walked) > 20 and ["plot", "losses"] in [p for p, _ in walked]
    for path, command in walked:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        text = result.output
        assert not re.search(r"``|:[a-z]+:`|`~", text), (path, text)
        if not hasattr(command, "commands"):
            continue
        listing = " ".join(text.split("Commands:", 1)[1].split())
        assert "..." not in listing, (path, listing)
        for name, sub in command.commands.items():
            paragraph = " ".join((sub.help or "").split("\n\n")[0].split())
            sentence = re.split(r"(?<=[.!?]) (?=[A-Z])", paragraph, maxsplit=1)[0]
            assert sentence and f"{name} {sentence}" in listing, (path, name, listing)
    plot = " ".join(runner.invoke(app, ["plot", "--help"]).output.split())
    assert "losses Every loss part against the episode (Fig. 9)." in plot
    assert "tsne t-SNE of real and synthetic features per class (Fig. 6)." in plot


def test_plugins_shows_modgen_version_for_its_own_plugins():
    result = runner.invoke(build_app(plugin_commands=False), ["plugins"])
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[0].strip(): line for line in result.output.splitlines() if "│" in line}
    for own in ("builtin", "builtin-commands"):
        cells = [c.strip() for c in rows[own].split("│")]
        assert cells[1] == __version__ and "?" not in cells, rows[own]
