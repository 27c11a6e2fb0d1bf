"""``modgen plugin new``: the scaffolded package is valid, loads as a plugin and passes its tests."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from modgen.cli import build_app
from modgen.errors import ConfigError
from modgen.plugins import get_registries
from modgen.scaffold import PLUGIN_NAME_PATTERN, new_plugin, plugin_files, validate_plugin_name

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def scaffolded(tmp_path: Path) -> Iterator[Path]:
    """A scaffolded plugin ``scafftest`` importable from sys.path, removed again afterwards."""
    root = new_plugin("scafftest", tmp_path)
    sys.path.insert(0, str(root))
    try:
        yield root
    finally:
        sys.path.remove(str(root))
        for mod in [m for m in sys.modules if m == "modgen_scafftest" or m.startswith("modgen_scafftest.")]:
            del sys.modules[mod]


@settings(max_examples=30, deadline=None)
@given(st.from_regex(PLUGIN_NAME_PATTERN, fullmatch=True).filter(lambda n: n not in {"builtin"}))
def test_valid_names_make_consistent_files(name: str) -> None:
    files = plugin_files(name)
    assert f'{name} = "modgen_{name}.plugin"' in files["pyproject.toml"]
    assert f'register("{name}.scale"' in files[f"modgen_{name}/plugin.py"]
    assert '"modgen-zsl"' in files["pyproject.toml"]
    for rel in (f"modgen_{name}/__init__.py", f"modgen_{name}/plugin.py", f"modgen_{name}/modulator.py"):
        compile(files[rel], rel, "exec")
    # the plugin module imports its components (and torch) only inside the hooks
    for rel in (f"modgen_{name}/__init__.py", f"modgen_{name}/plugin.py"):
        assert not re.search(r"^(import torch|from torch)", files[rel], flags=re.M), rel
    compile(files[f"tests/test_{name}_plugin.py"], "test.py", "exec")


@pytest.mark.parametrize("name", ["Foo", "foo-bar", "1foo", "", "foo.bar", "a" * 41, "_foo"])
def test_invalid_names_are_rejected_with_the_value(name: str) -> None:
    with pytest.raises(ConfigError, match=rf"Invalid plugin name {name!r}: expected lowercase letters"):
        validate_plugin_name(name)


@pytest.mark.parametrize("name", ["builtin", "class"])
def test_reserved_names_are_rejected(name: str) -> None:
    with pytest.raises(ConfigError, match=rf"Invalid plugin name '{name}': the name is reserved"):
        new_plugin(name, ".")


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    new_plugin("twice", tmp_path)
    with pytest.raises(ConfigError, match=r"Cannot create plugin 'twice': .*twice' already exists"):
        new_plugin("twice", tmp_path)
    (tmp_path / "empty").mkdir()
    assert (new_plugin("empty", tmp_path) / "pyproject.toml").is_file()


def test_scaffolded_plugin_loads_and_its_component_works(scaffolded: Path) -> None:
    module = importlib.import_module("modgen_scafftest.plugin")
    regs = get_registries(extra=[("scafftest", module)], entry_points=False)
    assert regs.failures == []
    entry = regs.modulator.entry("scafftest.scale")
    assert entry.origin == "scafftest"
    modulation = entry.obj(attr_dim=3, target_dims=[5, 7])(torch.randn(2, 4, 3))
    out = modulation(1, torch.ones(2, 6, 7))
    assert out.shape == (2, 6, 7)
    assert ((out > 0) & (out < 2)).all()  # 1 + tanh(.) scales lie in (0, 2)


def test_scaffolded_package_passes_its_own_tests(scaffolded: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=scaffolded,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "4 passed, 1 skipped" in proc.stdout


@pytest.fixture
def app(registries):
    return build_app(registries, plugin_commands=False)


def test_cli_command_creates_the_package(app, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["plugin", "new", "clitest", "--dest", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "clitest" / "modgen_clitest" / "plugin.py").is_file()
    assert "pip install -e" in result.output


def test_cli_command_reports_bad_names_as_one_line_config_errors(app, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["plugin", "new", "Bad-Name", "--dest", str(tmp_path)])
    assert result.exit_code == ConfigError.exit_code
    assert "Error: Invalid plugin name 'Bad-Name'" in result.output and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_scaffold_holds_no_command_line() -> None:
    """The ``modgen plugin`` command lives in modgen.cli.plugin; the library module has none."""
    from modgen import scaffold

    assert not hasattr(scaffold, "plugin_app") and not hasattr(scaffold, "make_plugin_app")
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        scaffold.nope  # noqa: B018
