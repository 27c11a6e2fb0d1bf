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


# -- every `modgen ...` invocation in the docs names a real command and real options ------------------

#: Where invocations are read from: the documentation pages, the README and the plugins' READMEs.
INVOCATION_PAGES = sorted(
    [*DOCS.rglob("*.md"), DOCS.parent / "README.md", *(DOCS.parent / "plugins").glob("*/README.md")]
)
_SEPARATORS = {"&&", "||", ";", "|", ">", ">>", "2>", "<"}


def _cli_tree() -> object:
    from modgen.cli import build_app

    return typer.main.get_command(build_app(get_registries(entry_points=False), plugin_commands=False))


def _options(cmd: object) -> set[str]:
    opts = {"--help"}
    for param in getattr(cmd, "params", []):
        opts.update(
            o
            for o in [*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])]
            if o.startswith("--")
        )
    return opts


def _invocations(text: str) -> list[tuple[int, str]]:
    """``(line, command text)`` of every ``modgen ...`` in fenced bash blocks and inline code."""
    found: list[tuple[int, str]] = []
    fence = re.compile(r"^(`{3,}|~{3,})\s*([\w-]*)")
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = fence.match(lines[i].strip())
        if m:
            lang, start, body = m.group(2), i + 1, []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(m.group(1)):
                body.append(lines[i])
                i += 1
            if lang in ("bash", "sh", "shell", "console"):
                for n, command in _shell_commands(body):
                    found.append((start + n, command))
            i += 1
            continue
        for code in re.findall(r"`([^`\n]+)`", lines[i]):
            if re.search(r"(^|\s|-m\s)modgen\s", code + " "):
                found.append((i + 1, code))
        i += 1
    return found


def _shell_commands(body: list[str]) -> list[tuple[int, str]]:
    """The commands of a shell block with their 1-based line: a trailing backslash continues a line,
    and so does an indented line starting with ``[`` or ``-`` (how synopses wrap)."""
    out: list[tuple[int, str]] = []
    for n, line in enumerate(body, 1):
        text = line.rstrip()
        wraps = out and (out[-1][1].endswith("\\") or re.match(r"^\s+[\[-]", text))
        if wraps:
            out[-1] = (out[-1][0], out[-1][1].rstrip("\\") + " " + text.strip())
        elif text.strip():
            out.append((n, text.strip().removeprefix("$ ")))
    return [(n, c.rstrip("\\")) for n, c in out]


def _segments(command: str) -> list[list[str]]:
    import shlex

    # a synopsis's alternatives ([--recipe NAME | --config FILE]) are not pipes
    command = re.sub(r"\[[^\]]*\]", lambda m: m.group(0).replace("|", " "), command)
    try:
        tokens = shlex.split(command, comments=True)
    except ValueError:
        tokens = command.split()
    out, cur = [], []
    for tok in tokens:
        if tok in _SEPARATORS or tok.startswith((">", "2>")):
            out.append(cur)
            cur = []
        else:
            cur.append(tok)
    out.append(cur)
    return [s for s in out if s]


def _check_invocation(root: object, tokens: list[str]) -> str | None:
    """Why ``tokens`` (one shell command) is not a real ``modgen`` invocation, or ``None``."""
    start = next(
        (
            i + 1
            for i, t in enumerate(tokens)
            if t == "modgen" and (i == 0 or tokens[i - 1] == "-m" or all("=" in p for p in tokens[:i]))
        ),
        None,
    )
    if start is None:
        return None
    cmd, path = root, ["modgen"]
    for tok in tokens[start:]:
        for opt in re.findall(r"(?<![\w-])--[A-Za-z][\w-]*", tok):
            if opt not in _options(cmd):
                return f"{' '.join(path)} has no option {opt}"
        if tok.startswith("-") or not re.match(r"^[a-z][\w-]*$", tok):
            continue
        subcommands = getattr(cmd, "commands", None)
        if subcommands is None:  # a leaf command: the rest are its arguments and option values
            continue
        if tok not in subcommands:
            return f"{' '.join(path)} has no command {tok!r} (commands: {', '.join(sorted(subcommands))})"
        cmd, path = subcommands[tok], [*path, tok]
    return None


def test_every_documented_invocation_exists_in_the_cli() -> None:
    root = _cli_tree()
    offenders, checked = [], 0
    for page in INVOCATION_PAGES:
        for line, command in _invocations(page.read_text(encoding="utf-8")):
            for tokens in _segments(command):
                reason = _check_invocation(root, tokens)
                checked += "modgen" in tokens
                if reason:
                    offenders.append(
                        f"{page.relative_to(DOCS.parent)}:{line}: `{' '.join(tokens)}`: {reason}"
                    )
    assert checked > 50, f"only {checked} invocations found; is the parser still reading the pages?"
    assert offenders == [], "documented modgen invocations the CLI does not have:\n" + "\n".join(offenders)


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        ("modgen train --recipe amaz --set run.seed=1", None),
        ("torchrun --nproc-per-node 2 -m modgen train --recipe amaz", None),
        ("modgen recipe show amaz --dataset AWA2 > x.toml && modgen train --config x.toml", None),
        ("modgen sweep run GRID.toml [--shard i/n] [--dry-run]", None),
        ("modgen train --quiet", "modgen train has no option --quiet"),
        ("modgen --quiet train --recipe zsml", None),
        ("modgen trian", "modgen has no command 'trian'"),
        ("modgen sweep synthesis RUN --seeds 3", "modgen sweep synthesis has no option --seeds"),
        ("pip install modgen-zsl", None),
    ],
)
def test_invocation_check_catches_what_it_should(command: str, reason: str | None) -> None:
    root = _cli_tree()
    reasons = [r for tokens in _segments(command) if (r := _check_invocation(root, tokens))]
    if reason is None:
        assert reasons == []
    else:
        assert len(reasons) == 1 and reasons[0].startswith(reason), reasons


def test_the_component_examples_on_the_plugin_kinds_page_pass_their_contracts(tmp_path: Path) -> None:
    """The page's classifier, sampler and loader, and their check_component tests, run as written."""
    import inspect

    text = (DOCS / "plugin-kinds.md").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```python\n(.*?)```", text, flags=re.S) if "modgen_mine" not in b]
    namespace: dict[str, object] = {}
    exec(compile("\n\n".join(blocks), str(DOCS / "plugin-kinds.md"), "exec"), namespace)
    tests = {name: fn for name, fn in namespace.items() if name.startswith("test_") and callable(fn)}
    assert len(tests) == 3, sorted(tests)
    for fn in tests.values():
        fn(*([tmp_path] if inspect.signature(fn).parameters else []))


def test_the_library_page_runs_from_install_to_features_for_your_own_classifier(
    tmp_path, monkeypatch
) -> None:
    """docs/library.md's python blocks, in order, in one namespace, in a scratch folder."""
    text = (DOCS / "library.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 6 and "pip install modgen-zsl" in text
    assert any("modgen.synthesize(run," in b for b in blocks)
    assert any("net.generator(" in b and "loss.backward()" in b for b in blocks)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "library_md"}
    exec(compile("\n\n".join(blocks), str(DOCS / "library.md"), "exec"), namespace)
    assert (tmp_path / "runs" / "embedded" / "results.json").is_file()
    made, mine = namespace["made"], namespace["own_loop"]
    assert made.features.shape[0] == 100 * len(namespace["run"].data.unseen_classes)  # type: ignore[attr-defined]
    assert set(made.labels.tolist()) == set(namespace["run"].data.unseen_classes.tolist())  # type: ignore[attr-defined]
    assert mine.features.shape == (100, namespace["data"].feature_dim)  # type: ignore[attr-defined]
