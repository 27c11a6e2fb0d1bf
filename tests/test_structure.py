"""The structure of modgen's own modules, read from their source (nothing is imported).

* No import circle among modgen's modules: every ``import`` counts, the ones under
  ``if TYPE_CHECKING:`` and inside functions included.
* No module uses a private name (``_x``) of another module, neither by ``from m import _x`` nor as
  ``m._x``; a private module (``pkg/_mod.py``) is imported only inside its own package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "modgen"


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _owner(name: str) -> str:
    """The modgen module that ``name`` (a dotted path) lies in: the longest prefix that is one."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


class Imports:
    """What one module imports: the modules it depends on, and its uses of private names."""

    def __init__(self, module: str) -> None:
        self.module = module
        path = MODULES[module]
        self.package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        self.tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        self.edges: set[str] = set()
        self.private: list[str] = []
        self.aliases: dict[str, str] = {}  # local name -> modgen module
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                self._import(node)
            elif isinstance(node, ast.ImportFrom):
                self._import_from(node)
        for node in ast.walk(self.tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and _is_private(node.attr)
            ):
                target = self.aliases.get(node.value.id)
                if target is not None and target != self.module and f"{target}.{node.attr}" not in MODULES:
                    self.private.append(f"{node.value.id}.{node.attr} ({target})")

    def _depend(self, target: str) -> None:
        if not target or target == self.module:
            return
        self.edges.add(target)
        # a private module is used only inside its own package (scikit-learn's layout)
        parts = target.split(".")
        for i, part in enumerate(parts[1:], start=1):
            if _is_private(part):
                package = ".".join(parts[:i])
                if self.module != package and not self.module.startswith(package + "."):
                    self.private.append(f"module {target}")
                break

    def _import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name.split(".")[0] == "modgen":
                target = _owner(alias.name)
                self._depend(target)
                if alias.asname:
                    self.aliases[alias.asname] = target

    def _import_from(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.package.split(".")
            base = base[: len(base) - (node.level - 1)]
            source = ".".join([*base, *([node.module] if node.module else [])])
        else:
            source = node.module or ""
        if source.split(".")[0] != "modgen":
            return
        for alias in node.names:
            full = f"{source}.{alias.name}"
            if full in MODULES:  # a module: ``from modgen import hookspecs``
                self._depend(full)
                self.aliases[alias.asname or alias.name] = full
                continue
            owner = _owner(source)
            self._depend(owner)
            if _is_private(alias.name) and owner != self.module:
                self.private.append(f"{alias.name} from {owner}")


IMPORTS = {m: Imports(m) for m in MODULES}


def _cycle() -> list[str] | None:
    """One import circle among modgen's modules, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for n in sorted(IMPORTS[m].edges):
            if state.get(n) == 1:
                return [*path[path.index(n) :], n]
            if n not in state:
                found = visit(n)
                if found:
                    return found
        path.pop()
        state[m] = 2
        return None

    for m in sorted(MODULES):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def test_the_checks_see_the_package():
    assert {"modgen", "modgen.pipeline", "modgen.pipeline._run", "modgen.registry", "modgen.cli.app"} <= set(
        MODULES
    )
    assert "modgen.registry" in IMPORTS["modgen.plugins"].edges
    assert "modgen.pipeline._spec" in IMPORTS["modgen.pipeline._run"].edges


def test_no_import_circle_among_modgen_modules():
    cycle = _cycle()
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_uses_a_private_name_of_another(module):
    assert IMPORTS[module].private == []


def test_the_checks_catch_what_they_look_for(tmp_path, monkeypatch):
    """A circle and each kind of private use, planted in made-up modules, are found."""
    planted = {
        "modgen.x_a": "from modgen.x_b import thing\n",
        "modgen.x_b": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from modgen.x_a import other\n",
        "modgen.x_c": "import modgen.x_a as a\nfrom modgen.x_b import _hidden\n\ndef f():\n    return a._secret\n",
        "modgen.x_d": "from modgen.pipeline._run import run\n",
    }
    for name, text in planted.items():
        path = tmp_path / f"{name}.py"
        path.write_text(text, encoding="utf-8")
        monkeypatch.setitem(MODULES, name, path)
    for name in planted:
        monkeypatch.setitem(IMPORTS, name, Imports(name))
    cycle = _cycle()
    assert cycle is not None and {"modgen.x_a", "modgen.x_b"} <= set(cycle)
    assert IMPORTS["modgen.x_c"].private == ["_hidden from modgen.x_b", "a._secret (modgen.x_a)"]
    assert IMPORTS["modgen.x_d"].private == ["module modgen.pipeline._run"]
