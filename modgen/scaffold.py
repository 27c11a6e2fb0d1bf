"""Scaffold a new modgen plugin package (``modgen plugin new NAME``).

:func:`new_plugin` writes a complete, installable plugin package: a ``pyproject.toml`` with the
``modgen`` entry point, a plugin module registering one small example component through
:data:`modgen.hookimpl`, a README and a test file built on :mod:`modgen.testing` that passes out
of the box::

    NAME/
        pyproject.toml            entry point: [project.entry-points.modgen] NAME = "modgen_NAME.plugin"
        README.md
        modgen_NAME/__init__.py   loads the components on first use (no torch at import)
        modgen_NAME/plugin.py     the hooks; they import the components when modgen calls them
        modgen_NAME/modulator.py  the example modulator "NAME.scale"
        tests/test_NAME_plugin.py

The plugin module imports its components (and torch) inside the hooks: modgen imports every
plugin module to build its command line, so ``modgen --help`` stays fast.

Example:
    >>> import tempfile
    >>> root = new_plugin("foo", tempfile.mkdtemp())
    >>> sorted(p.name for p in root.iterdir())
    ['README.md', 'modgen_foo', 'pyproject.toml', 'tests']
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path

from modgen.errors import ConfigError
from modgen.registry import BUILTIN

__all__ = ["PLUGIN_NAME_PATTERN", "validate_plugin_name", "plugin_files", "new_plugin"]

#: What a plugin name may look like: it becomes the entry-point name, the registry prefix
#: ``NAME.`` and part of the package name ``modgen_NAME``, so it must be a Python identifier.
PLUGIN_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

_PYPROJECT = """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "modgen-{name}"
version = "0.1.0"
description = "A modgen plugin adding the modulator {name}.scale"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["modgen-zsl", "torch>=2.1"]

[project.optional-dependencies]
test = ["pytest>=8", "hypothesis>=6.90"]

# modgen finds plugins through this entry-point group. The entry point's name ("{name}") is the
# plugin's name: every component and recipe it registers must be called "{name}.<something>".
[project.entry-points.modgen]
{name} = "modgen_{name}.plugin"

[tool.setuptools]
packages = ["modgen_{name}"]

[tool.pytest.ini_options]
testpaths = ["tests"]
# lets the tests import modgen_{name} before the package is installed
pythonpath = ["."]
"""

_README = """\
# modgen-{name}

A plugin for [modgen](https://github.com/modgen-zsl/modgen-zsl) (the distribution `modgen-zsl`). It
registers the modulator
**`{name}.scale`**: a task encoder (a per-class MLP averaged over the task's classes) and one linear
head per modulated generator output, scaling each output by `1 + tanh(w_j(e))`.

```bash
pip install -e .                       # makes the entry point "{name}" visible to modgen
modgen list modulator                  # shows {name}.scale with origin "{name}"
pytest                                 # the contract tests from modgen.testing
```

Use it in a run by putting it in a recipe's modulator slot (with its default parameters):

```bash
modgen train --recipe amaz --set modulator={name}.scale
```

Add more components in modules of `modgen_{name}/` and register them in `modgen_{name}/plugin.py`
(`registries.<kind>.register("{name}.<name>", cls)`, importing the class inside the hook), and
recipes with a `modgen_register_recipes` hook. Every name must start with `{name}.`. Check each
component with `modgen.testing.contracts.check_component(kind, cls)`.
"""

_INIT = '''\
"""modgen-{name}: a modgen plugin (entry point ``{name}`` -> :mod:`modgen_{name}.plugin`)."""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["ScaleModulator"]

_WHERE = {{"ScaleModulator": "modulator"}}


def __getattr__(name: str) -> Any:
    """Load the components on first use (importing the package does not import torch)."""
    if name not in _WHERE:
        raise AttributeError(f"module 'modgen_{name}' has no attribute {{name!r}}")
    return getattr(import_module(f"modgen_{name}.{{_WHERE[name]}}"), name)
'''

_PLUGIN = '''\
"""The hooks of the modgen plugin ``{name}``: modgen calls them when it builds its registries."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modgen import hookimpl

if TYPE_CHECKING:
    from modgen.registry import PluginRegistries

# The components (and torch) are imported inside the hooks: modgen imports every plugin module to
# build its command line, and `modgen --help` should not pay for importing torch.


@hookimpl
def modgen_register_components(registries: PluginRegistries) -> None:
    """Register this plugin's components; names must start with "{name}."."""
    from modgen_{name}.modulator import ScaleModulator

    registries.modulator.register("{name}.scale", ScaleModulator)
'''

_MODULATOR = '''\
"""The modulator ``{name}.scale``: scales each modulated generator output per task."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

__all__ = ["ScaleModulator"]


class ScaleModulator(nn.Module):
    """Scales each modulated generator output per task: ``o_hat_j = (1 + tanh(w_j(e))) * o_j``.

    Args:
        attr_dim: attribute dimension ``A``.
        target_dims: widths of the generator's modulated outputs (``generator.modulated_dims``).
        hidden: width of the task embedding ``e``.

    ``forward(task_attributes)``: ``(..., N, A)`` -> a modulation ``(j, o) -> o_hat`` where ``o``
    is ``(..., n, d_j)``.

    Example:
        >>> mod = ScaleModulator(attr_dim=4, target_dims=[8])
        >>> mod(torch.randn(5, 4))(0, torch.randn(10, 8)).shape
        torch.Size([10, 8])
    """

    def __init__(self, attr_dim: int, target_dims: Sequence[int], *, hidden: int = 64) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(attr_dim, hidden), nn.ReLU())
        self.heads = nn.ModuleList(nn.Linear(hidden, d) for d in target_dims)

    def forward(self, task_attributes: Tensor) -> Callable[[int, Tensor], Tensor]:
        # One embedding per task (mean over its classes, dim -2); keepdim leaves a sample
        # dimension of 1 that broadcasts over the task's samples.
        e = self.encoder(task_attributes).mean(dim=-2, keepdim=True)
        scales = [1 + torch.tanh(head(e)) for head in self.heads]
        return lambda j, o: scales[j] * o
'''

_TEST = '''\
"""Tests of the modgen plugin ``{name}``, built on modgen.testing."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from modgen.plugins import get_registries
from modgen.testing.contracts import check_component
from modgen.testing.strategies import leading_dims, task_sizes

from modgen_{name} import plugin
from modgen_{name}.modulator import ScaleModulator


def test_scale_modulator_passes_the_modulator_contract() -> None:
    # check_component raises on any breach of modgen's Modulator protocol.
    check_component("modulator", ScaleModulator, hidden=8)
    mod = ScaleModulator(attr_dim=3, target_dims=[4], hidden=8)
    assert mod(torch.randn(2, 3))(0, torch.randn(5, 4)).shape == (5, 4)


@settings(max_examples=10, deadline=None)
@given(lead=leading_dims(), size=task_sizes())
def test_scales_lie_between_0_and_2(lead: tuple[int, ...], size: dict[str, int]) -> None:
    mod = ScaleModulator(attr_dim=3, target_dims=[4], hidden=8)
    modulation = mod(torch.randn(*lead, size["n_way"], 3))
    ratio = modulation(0, torch.ones(*lead, size["n"], 4))
    assert ratio.shape == (*lead, size["n"], 4)
    assert ((ratio > 0) & (ratio < 2)).all()


def test_plugin_registers_its_component() -> None:
    regs = get_registries(extra=[("{name}", plugin)], entry_points=False)
    assert regs.failures == []
    assert regs.modulator.entry("{name}.scale").origin == "{name}"


def test_importing_the_plugin_module_does_not_import_torch() -> None:
    # modgen imports every plugin module to build its command line; `modgen --help` stays fast.
    root = str(Path(__file__).resolve().parents[1])
    env = {{**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}}
    code = "import sys, modgen_{name}.plugin; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_entry_point_when_installed() -> None:
    names = [ep.name for ep in importlib.metadata.entry_points(group="modgen")]
    if "{name}" not in names:
        pytest.skip("modgen-{name} is not installed (pip install -e .)")
    assert get_registries().modulator.entry("{name}.scale").origin == "{name}"
'''


def validate_plugin_name(name: str) -> str:
    """Return ``name`` if it can name a plugin, else raise.

    Raises:
        ConfigError: ``name`` is not lowercase letters, digits and ``_`` starting with a letter
            (at most 40 characters), or it is reserved (``builtin``, a Python keyword).

    Example:
        >>> validate_plugin_name("film")
        'film'
    """
    if not isinstance(name, str) or not PLUGIN_NAME_PATTERN.match(name):
        raise ConfigError(
            f"Invalid plugin name {name!r}: expected lowercase letters, digits and '_', starting with a "
            "letter, at most 40 characters (e.g. 'myplugin'); it becomes the entry-point name, the "
            "component prefix 'NAME.' and the package 'modgen_NAME'."
        )
    if name == BUILTIN or keyword.iskeyword(name):
        raise ConfigError(f"Invalid plugin name {name!r}: the name is reserved; choose another one.")
    return name


def plugin_files(name: str) -> dict[str, str]:
    """The files of a new plugin package ``name``: relative path -> text.

    Raises:
        ConfigError: ``name`` is invalid (see :func:`validate_plugin_name`).
    """
    validate_plugin_name(name)
    return {
        "pyproject.toml": _PYPROJECT.format(name=name),
        "README.md": _README.format(name=name),
        f"modgen_{name}/__init__.py": _INIT.format(name=name),
        f"modgen_{name}/plugin.py": _PLUGIN.format(name=name),
        f"modgen_{name}/modulator.py": _MODULATOR.format(name=name),
        f"tests/test_{name}_plugin.py": _TEST.format(name=name),
    }


def new_plugin(name: str, dest: str | Path = ".") -> Path:
    """Write a new plugin package ``dest/name`` and return its folder.

    Args:
        name: the plugin's name (see :func:`validate_plugin_name`).
        dest: the folder to create the package in.

    Returns:
        The package folder ``dest/name``; ``pip install -e`` it to make the plugin visible.

    Raises:
        ConfigError: ``name`` is invalid, or ``dest/name`` exists and is not an empty folder.

    Example:
        >>> import tempfile
        >>> (new_plugin("bar", tempfile.mkdtemp()) / "modgen_bar" / "plugin.py").is_file()
        True
    """
    files = plugin_files(name)
    root = Path(dest) / name
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise ConfigError(
            f"Cannot create plugin {name!r}: {str(root)!r} already exists and is not an empty folder; "
            "choose another --dest or remove it."
        )
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root
