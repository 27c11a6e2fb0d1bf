"""Meta-tests of the documentation: hooks, components, recipes, commands and pages are all documented.

``mkdocs build --strict`` (run by CI) checks links and docstrings; these tests check that nothing
the code offers is missing from the pages.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest
import typer

import modgen
from modgen import hookspecs
from modgen.plugins import KINDS, get_registries

DOCS = Path(__file__).resolve().parents[1] / "docs"
MKDOCS_YML = DOCS.parent / "mkdocs.yml"

#: Modules that are not API: the CLI (documented on the CLI page), the built-in plugin (its hooks
#: are the components' registration) and the version string.
NOT_API = {"modgen.cli", "modgen.builtin", "modgen._version", "modgen.__main__"}


def _nav_pages() -> list[str]:
    text = MKDOCS_YML.read_text(encoding="utf-8")
    nav = text[text.index("\nnav:") :]
    return re.findall(r"^\s*-\s*(?:[^:\n]+:\s*)?([\w/.-]+\.md)\s*$", nav, flags=re.M)


def _headings(page: str) -> set[str]:
    text = (DOCS / page).read_text(encoding="utf-8")
    return {m.strip().strip("`") for m in re.findall(r"^#{1,6}\s+(.+?)\s*$", text, flags=re.M)}


def test_every_page_is_in_the_nav() -> None:
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    nav = set(_nav_pages())
    assert pages - nav == set(), "pages missing from mkdocs.yml nav"
    assert nav - pages == set(), "nav entries without a page"


def test_every_hook_has_a_heading_on_the_hooks_page() -> None:
    hooks = {n for n in dir(hookspecs) if n.startswith("modgen_")}
    assert hooks, "no hookspecs found"
    assert hooks - _headings("hooks.md") == set()


def test_hooks_page_documents_no_hook_that_does_not_exist() -> None:
    documented = {h for h in _headings("hooks.md") if h.startswith("modgen_")}
    assert documented - {n for n in dir(hookspecs) if n.startswith("modgen_")} == set()


def test_every_hookspec_has_a_full_docstring() -> None:
    for name in (n for n in dir(hookspecs) if n.startswith("modgen_")):
        doc = getattr(hookspecs, name).__doc__ or ""
        assert ":param" in doc and len(doc.split()) > 20, name


@pytest.mark.parametrize("kind", KINDS)
def test_every_builtin_component_has_a_docstring(kind: str) -> None:
    registry = get_registries(entry_points=False).kind(kind)
    undocumented = [e.name for e in registry.entries() if e.origin == "builtin" and not e.summary]
    assert undocumented == []


def test_every_builtin_recipe_is_on_the_recipes_page() -> None:
    text = (DOCS / "recipes.md").read_text(encoding="utf-8")
    recipes = get_registries(entry_points=False).recipe.names()
    assert [r for r in recipes if f"`{r}`" not in text and f"## {r}\n" not in text] == []


def _public_modules() -> list[str]:
    names = ["modgen"]
    for info in pkgutil.walk_packages(modgen.__path__, prefix="modgen."):
        if any(part.startswith("_") for part in info.name.split(".")[1:]):
            continue
        parent = info.name.rsplit(".", 1)[0]
        # submodules of a documented subpackage are covered by the subpackage's page
        if parent == "modgen" and info.name not in NOT_API:
            names.append(info.name)
    return names


def _api_targets() -> set[str]:
    targets: set[str] = set()
    for page in (DOCS / "api").glob("*.md"):
        targets.update(re.findall(r"^:::\s*([\w.]+)", page.read_text(encoding="utf-8"), flags=re.M))
    return targets


def test_every_public_module_has_an_api_page() -> None:
    missing = [m for m in _public_modules() if m != "modgen" and m not in _api_targets()]
    assert missing == [], f"add a docs/api/<name>.md page with '::: <module>' for {missing}"


def _public_submodules() -> list[str]:
    """Public modules inside the documented subpackages (``modgen.evaluate.sets``, ...)."""
    names = []
    for info in pkgutil.walk_packages(modgen.__path__, prefix="modgen."):
        parts = info.name.split(".")
        if len(parts) < 3 or any(p.startswith("_") for p in parts[1:]):
            continue
        if ".".join(parts[:2]) in NOT_API:
            continue
        names.append(info.name)
    return names


def test_every_public_submodule_is_on_its_packages_page() -> None:
    submodules = _public_submodules()
    assert "modgen.evaluate.sets" in submodules and "modgen.sweeps.grid" in submodules
    missing = [m for m in submodules if m not in _api_targets()]
    assert missing == [], f"add '## <module>' and '::: <module>' to its package's page for {missing}"


def test_every_api_directive_names_an_importable_object() -> None:
    targets = _api_targets()
    assert targets
    for target in sorted(targets):
        module, _, attr = target, "", ""
        while True:
            try:
                obj = importlib.import_module(module)
                break
            except ModuleNotFoundError:
                module, _, last = module.rpartition(".")
                attr = f"{last}.{attr}" if attr else last
        for part in filter(None, attr.split(".")):
            obj = getattr(obj, part)
        assert obj is not None


def _commands(group: object, prefix: str) -> list[str]:
    # typer vendors its own click, so groups are recognised by their ``commands`` table
    out: list[str] = []
    for name, cmd in sorted(getattr(group, "commands", {}).items()):
        if getattr(cmd, "hidden", False):
            continue
        path = f"{prefix} {name}"
        out.append(path)
        out.extend(_commands(cmd, path))
    return out


def test_every_cli_command_is_on_the_cli_page() -> None:
    from modgen.cli import build_app

    app = build_app(get_registries(entry_points=False), plugin_commands=False)
    commands = _commands(typer.main.get_command(app), "modgen")
    assert "modgen list" in commands
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert [c for c in commands if f"## {c}\n" not in text and f"### {c}\n" not in text] == []


def _readme_block(marker: str) -> str:
    text = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    after = text[text.index(f"<!-- ci:{marker} -->") :]
    return re.search(r"```\w*\n(.*?)```", after, flags=re.S).group(1).strip()


@pytest.mark.parametrize("marker", ["install", "test"])
def test_quickstart_shows_the_readme_commands(marker: str) -> None:
    assert _readme_block(marker) in (DOCS / "index.md").read_text(encoding="utf-8")


def test_griffe_extension_examples_hold() -> None:
    pytest.importorskip("griffe")
    import doctest
    import importlib.util

    spec = importlib.util.spec_from_file_location("griffe_modgen", DOCS / "_ext" / "griffe_modgen.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = doctest.testmod(module)
    assert result.attempted >= 3 and result.failed == 0


def test_cli_reference_block_is_generated_from_the_cli() -> None:
    """docs/cli.md's reference block is what `python -m modgen.cli.reference docs/cli.md` writes."""
    from modgen.cli.reference import BEGIN, END, reference_markdown

    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    block = text.split(BEGIN, 1)[1].split(END, 1)[0]
    assert block.strip() == reference_markdown().strip(), "run: python -m modgen.cli.reference docs/cli.md"
