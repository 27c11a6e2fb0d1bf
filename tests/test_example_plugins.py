"""The example plugins in plugins/: seen through their entry points when installed, and through
``get_registries(extra=...)`` from the source tree when not; their components work inside modgen."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import torch

from modgen.plugins import ENTRY_POINT_GROUP, get_registries

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"

#: (plugin name, source folder, plugin module, kind, component it registers)
EXAMPLES = [
    ("film", "modgen-film", "modgen_film.plugin", "modulator", "film.film"),
    ("film", "modgen-film", "modgen_film.plugin", "recipe", "film.amaz-film"),
    (
        "diverse",
        "modgen-diverse-sampler",
        "modgen_diverse_sampler.plugin",
        "task_sampler",
        "diverse.attribute-diverse",
    ),
]


def _installed(plugin: str) -> bool:
    return plugin in {ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


@pytest.fixture
def plugin_modules() -> Iterator[dict[str, ModuleType]]:
    """The example plugin modules, imported from the source tree when they are not installed."""
    added: list[str] = []
    before = set(sys.modules)
    for _, folder, module, _, _ in EXAMPLES:
        path = str(PLUGINS / folder)
        if importlib.util.find_spec(module.partition(".")[0]) is None and path not in sys.path:
            sys.path.insert(0, path)
            added.append(path)
    try:
        yield {plugin: importlib.import_module(module) for plugin, _, module, _, _ in EXAMPLES}
    finally:
        for path in added:
            sys.path.remove(path)
        if added:  # forget what was imported from the source tree so no later test sees it
            for name in set(sys.modules) - before:
                if name.partition(".")[0] in {"modgen_film", "modgen_diverse_sampler"}:
                    del sys.modules[name]


@pytest.mark.parametrize(("plugin", "folder", "module", "kind", "name"), EXAMPLES)
def test_installed_plugin_is_seen_through_its_entry_point(
    plugin: str, folder: str, module: str, kind: str, name: str
) -> None:
    if not _installed(plugin):
        pytest.skip(f"plugin {plugin!r} is not installed (pip install -e plugins/{folder})")
    regs = get_registries()
    assert [f for f in regs.failures if f.name == plugin] == []
    assert plugin in regs.plugins
    entry = regs.kind(kind).entry(name)
    assert entry.origin == plugin
    assert entry.obj.__module__.startswith(module.partition(".")[0])


@pytest.mark.parametrize(("plugin", "folder", "module", "kind", "name"), EXAMPLES)
def test_plugin_module_loads_from_source_through_extra(
    plugin_modules: dict[str, ModuleType], plugin: str, folder: str, module: str, kind: str, name: str
) -> None:
    regs = get_registries(extra=[(plugin, plugin_modules[plugin])], entry_points=False)
    assert regs.failures == []
    assert regs.kind(kind).entry(name).origin == plugin
    assert plugin in regs.plugins


def test_plugin_components_train_inside_modgen(plugin_modules: dict[str, ModuleType], tmp_path: Path) -> None:
    """film.amaz-film with the diverse sampler: two meta-training episodes on digits, finite losses."""
    from modgen.data.digits import load_digits_zsl
    from modgen.pipeline import resolve_spec, train_or_load

    regs = get_registries(extra=list(plugin_modules.items()), entry_points=False)
    spec = resolve_spec(
        regs,
        "film.amaz-film",
        dataset="digits",
        overrides=[
            "task_sampler.name=diverse.attribute-diverse",
            "trainer.episodes=2",
            "run.log_every=1",
            "run.device=cpu",
            "generator.hidden=32",
            "modulator.hidden=16",
            "critic.hidden=[32, 16]",
            "aux_classifier.hidden=[16, 16]",
            "attribute_decoder.hidden=[32, 16]",
        ],
    )
    outcome = train_or_load(spec, regs, tmp_path / "run", load_digits_zsl(), device=torch.device("cpu"))
    assert type(outcome.assembly.modulator).__name__ == "FiLMModulator"
    assert outcome.spec.task_sampler.name == "diverse.attribute-diverse"
    assert "diverse.attribute-diverse" in (tmp_path / "run" / "config.toml").read_text()
    assert outcome.last_metrics
    assert all(torch.isfinite(torch.tensor(v)) for v in outcome.last_metrics.values())


def test_data_set_presets_size_plugin_components_that_take_the_parameter(
    plugin_modules: dict[str, ModuleType],
) -> None:
    """The digits preset gives FiLM its modulator width (FiLM takes ``hidden``) and keeps the
    diverse sampler's task sizes; a parameter a plugin component does not take is left out."""
    from modgen.pipeline import resolve_spec

    regs = get_registries(extra=list(plugin_modules.items()), entry_points=False)
    film = resolve_spec(regs, "film.amaz-film", dataset="digits")
    # the preset's width, and FiLM's own defaults as built (config.toml records every parameter)
    assert film.modulator.name == "film.film" and film.modulator.params == {"hidden": 128, "init_std": 0.01}
    diverse = resolve_spec(
        regs, "amaz", dataset="digits", overrides=["task_sampler.name=diverse.attribute-diverse"]
    )
    sizes = {k: diverse.task_sampler.params[k] for k in ("n_way", "k_support", "k_query", "tasks")}
    assert sizes == {"n_way": 2, "k_support": 5, "k_query": 3, "tasks": 4}
