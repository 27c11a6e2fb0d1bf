from __future__ import annotations

import types

import pytest

from modgen import hookimpl
from modgen.errors import PluginError
from modgen.plugins import KINDS, PluginWarning, Registries, get_registries


class Thing:
    """A component from a test plugin."""


def make_plugin(name: str, **hooks):
    return types.SimpleNamespace(**hooks, __name__=name)


def good_plugin():
    @hookimpl
    def modgen_register_components(registries):
        registries.modulator.register("good.thing", Thing)

    @hookimpl
    def modgen_register_recipes(registries):
        from modgen.recipes import amaz

        registries.recipe.register("good.recipe", amaz)

    return make_plugin(
        "good",
        modgen_register_components=modgen_register_components,
        modgen_register_recipes=modgen_register_recipes,
    )


def test_builtins_register_through_the_hook():
    regs = get_registries(entry_points=False)
    assert regs.plugins == ["builtin"]
    assert {"amaz", "zsml", "clswgan"} <= set(regs.recipe.names())
    assert all(e.origin == "builtin" for e in regs.recipe.entries())
    assert regs.failures == []


def test_good_plugin_components_carry_its_name():
    regs = get_registries([("good", good_plugin())], entry_points=False)
    assert regs.modulator.get("good.thing") is Thing
    assert regs.modulator.entry("good.thing").origin == "good"
    assert regs.recipe.entry("good.recipe").origin == "good"
    assert regs.plugins == ["builtin", "good"]


def test_failing_import_warns_and_others_keep_working(monkeypatch):
    class EP:
        def __init__(self, name, load):
            self.name, self.load = name, load

    def boom():
        raise ImportError("No module named 'missing_dep'")

    monkeypatch.setattr("modgen.plugins._entry_points", lambda: [EP("broken", boom), EP("good", good_plugin)])
    with pytest.warns(PluginWarning, match=r"plugin 'broken' failed while importing: ImportError: No module"):
        regs = get_registries()
    assert "good.thing" in regs.modulator
    assert [f.name for f in regs.failures] == ["broken"]
    assert regs.failures[0].stage == "import"
    assert "amaz" in regs.recipe


def test_raising_hook_is_rolled_back_with_warning():
    @hookimpl
    def modgen_register_components(registries):
        registries.modulator.register("bad.first", Thing)
        raise RuntimeError("kaboom")

    bad = make_plugin("bad", modgen_register_components=modgen_register_components)
    with pytest.warns(
        PluginWarning, match=r"plugin 'bad' failed in hook modgen_register_components: RuntimeError: kaboom"
    ):
        regs = get_registries([("bad", bad), ("good", good_plugin())], entry_points=False)
    assert "bad.first" not in regs.modulator
    assert "good.thing" in regs.modulator
    assert "bad" not in regs.plugins


def test_duplicate_name_from_plugin_is_reported():
    @hookimpl
    def modgen_register_components(registries):
        registries.modulator.register("good.thing", Thing)

    dup = make_plugin("good2", modgen_register_components=modgen_register_components)
    with pytest.warns(PluginWarning, match=r"plugin 'good2'.*must start with 'good2.'"):
        regs = get_registries([("good", good_plugin()), ("good2", dup)], entry_points=False)
    assert regs.modulator.entry("good.thing").origin == "good"


def test_duplicate_within_own_namespace_is_reported():
    @hookimpl
    def modgen_register_components(registries):
        registries.modulator.register("dup.x", Thing)
        registries.modulator.register("dup.x", Thing)

    dup = make_plugin("dup", modgen_register_components=modgen_register_components)
    with pytest.warns(PluginWarning, match=r"DuplicateComponentError: Cannot register modulator 'dup.x'"):
        regs = get_registries([("dup", dup)], entry_points=False)
    assert "dup.x" not in regs.modulator


def test_misspelled_hook_is_rejected():
    @hookimpl
    def modgen_register_component(registries):  # missing the final "s"
        registries.modulator.register("typo.x", Thing)

    typo = make_plugin("typo", modgen_register_component=modgen_register_component)
    with pytest.warns(
        PluginWarning,
        match=r"plugin 'typo' failed validating its hooks.*unknown hook 'modgen_register_component'",
    ):
        regs = get_registries([("typo", typo)], entry_points=False)
    assert "typo.x" not in regs.modulator
    assert regs.failures[0].stage == "validate"


def test_strict_mode_raises(monkeypatch):
    monkeypatch.setenv("MODGEN_STRICT_PLUGINS", "1")

    @hookimpl
    def modgen_register_components(registries):
        raise RuntimeError("kaboom")

    bad = make_plugin("bad", modgen_register_components=modgen_register_components)
    with pytest.raises(PluginError, match=r"plugin 'bad' failed in hook.*MODGEN_STRICT_PLUGINS is set"):
        get_registries([("bad", bad)], entry_points=False)


def test_empty_registries_have_every_kind():
    regs = Registries()
    for k in KINDS:
        assert len(regs.kind(k)) == 0
    from modgen.errors import UnknownComponentError

    with pytest.raises(UnknownComponentError, match="Unknown component kind 'widget'"):
        regs.kind("widget")


def test_a_hook_sees_registration_and_lookup_but_cannot_remove_anything():
    seen = {}

    @hookimpl
    def modgen_register_components(registries):
        seen["type"] = type(registries).__name__
        seen["unregister"] = hasattr(registries.modulator, "unregister")
        seen["builtin"] = registries.modulator.get("attribute").__name__
        seen["names"] = "none" in registries.modulator.names()
        registries.modulator.register("peek.thing", Thing)

    regs = get_registries(
        [("peek", make_plugin("peek", modgen_register_components=modgen_register_components))],
        entry_points=False,
    )
    assert regs.failures == []
    assert seen == {
        "type": "PluginRegistries",
        "unregister": False,
        "builtin": "AttributeModulator",
        "names": True,
    }
    assert regs.modulator.entry("peek.thing").origin == "peek"
    scoped = regs.scoped("peek")
    assert scoped.kind("modulator").kind == "modulator" and "peek.thing" in scoped.modulator
    with pytest.raises(
        PluginError, match=r"plugin 'peek' tried to register critic 'mlp2'.*start with 'peek.'"
    ):
        scoped.critic.register("mlp2", Thing)


def test_a_plugin_preset_is_applied_by_resolve_spec():
    from modgen.pipeline import resolve_spec
    from modgen.plugins import plugin_summary
    from modgen.recipes import tune

    @hookimpl
    def modgen_register_recipes(registries):
        registries.preset.register("fast.short", lambda spec, regs: tune(spec, regs, trainer={"episodes": 7}))

    regs = get_registries(
        [("fast", make_plugin("fast", modgen_register_recipes=modgen_register_recipes))], entry_points=False
    )
    assert regs.preset.entry("fast.short").origin == "fast"
    spec = resolve_spec(regs, "zsml", dataset="digits", preset="fast.short")
    assert spec.trainer.params["episodes"] == 7
    # the named preset replaces the data set's own (digits: hidden 128): the generator keeps its
    # constructor's defaults, which the resolved spec records
    assert spec.generator.params["hidden"] == 2048
    rows = {r["name"]: r for r in plugin_summary(regs)}
    assert rows["fast"]["presets"] == 1 and rows["fast"]["components"] == 0
    assert rows["builtin"]["presets"] == len([e for e in regs.preset.entries() if e.origin == "builtin"])


def test_a_trylast_plugin_sees_the_builtins_and_extends_one():
    """pluggy calls trylast implementations after all others: a plugin that builds on a built-in
    component says so with trylast=True and finds it registered."""

    @hookimpl(trylast=True)
    def modgen_register_components(registries):
        base = registries.generator.get("mlp")
        registries.generator.register("wide.mlp", type("WideMLP", (base,), {"__doc__": "A wider MLP."}))

    regs = get_registries(
        [("wide", make_plugin("wide", modgen_register_components=modgen_register_components))],
        entry_points=False,
    )
    assert regs.failures == []
    assert regs.generator.get("wide.mlp").__mro__[1] is regs.generator.get("mlp")
    assert regs.generator.entry("wide.mlp").origin == "wide"


def test_hooks_run_in_pluggys_order():
    """tryfirst, then the built-ins (tryfirst, loaded first), then plain plugins last loaded first,
    then trylast: what pm.hook.<name>() would do."""
    calls: list[tuple[str, bool]] = []

    def plugin(name, **order):
        @hookimpl(**order)
        def modgen_register_components(registries):
            calls.append((name, "mlp" in registries.generator.names()))

        return name, make_plugin(name, modgen_register_components=modgen_register_components)

    regs = get_registries(
        [plugin("a"), plugin("late", trylast=True), plugin("b"), plugin("early", tryfirst=True)],
        entry_points=False,
    )
    assert regs.failures == []
    assert calls == [("early", False), ("b", True), ("a", True), ("late", True)]


@pytest.mark.parametrize("option", ["wrapper", "hookwrapper"])
def test_a_wrapper_hook_is_refused(option, monkeypatch):
    @hookimpl(**{option: True})
    def modgen_register_components(registries):
        registries.modulator.register("wrap.thing", Thing)
        yield

    wrap = make_plugin("wrap", modgen_register_components=modgen_register_components)
    with pytest.warns(PluginWarning, match=rf"plugin 'wrap' failed validating.*{option}=True.*not supported"):
        regs = get_registries([("wrap", wrap)], entry_points=False)
    assert "wrap.thing" not in regs.modulator and "wrap" not in regs.plugins
    assert [(f.name, f.stage) for f in regs.failures] == [("wrap", "validate")]
    monkeypatch.setenv("MODGEN_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match=rf"hook 'modgen_register_components' is marked {option}=True"):
        get_registries([("wrap", wrap)], entry_points=False)


def test_a_plugin_data_set_gets_the_preset_registered_under_its_name():
    """The data set's own preset is the one registered under its label, built-in or not."""
    from modgen.pipeline import resolve_spec
    from modgen.recipes import tune

    @hookimpl
    def modgen_register_components(registries):
        from modgen.data import load_digits_zsl

        registries.dataset.register("mine.digits", lambda root=None: load_digits_zsl())

    @hookimpl
    def modgen_register_recipes(registries):
        registries.preset.register(
            "mine.digits", lambda spec, regs: tune(spec, regs, trainer={"episodes": 7})
        )

    mine = make_plugin(
        "mine",
        modgen_register_components=modgen_register_components,
        modgen_register_recipes=modgen_register_recipes,
    )
    regs = get_registries([("mine", mine)], entry_points=False)
    assert resolve_spec(regs, "zsml", dataset="mine.digits").trainer.params["episodes"] == 7
    assert (
        resolve_spec(regs, "zsml", dataset="mine.digits", preset="digits").trainer.params["episodes"] == 600
    )
