"""The docs check in CI can fail: a broken docstring makes `.ci/run`'s own mkdocs command exit non-zero.

`mkdocs build --strict --quiet` never fails on a warning (``--quiet`` lowers mkdocs' logger to
ERROR, so strict mode counts nothing). This test runs the exact docs command of ``.ci/run`` on a
tiny site built with the project's own ``mkdocs.yml`` (theme, mkdocstrings options, griffe
extension) and a one-function module: once with a good docstring (it must build) and once with a
``Raises:`` section griffe cannot parse (it must fail).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("mkdocs")
pytest.importorskip("mkdocstrings")

ROOT = Path(__file__).resolve().parents[1]

GOOD = '''"""A module."""


def f(x: int) -> int:
    """Return ``x``.

    Raises:
        ValueError: never.
    """
    return x
'''
BROKEN = GOOD.replace("ValueError: never.", "See the other function.")


def _ci_docs_command() -> str:
    lines = [ln.strip() for ln in (ROOT / ".ci" / "run").read_text().splitlines()]
    found = [ln for ln in lines if "mkdocs build" in ln and not ln.startswith("#")]
    assert len(found) == 1, f".ci/run should build the docs exactly once, found {found}"
    return found[0]


def _site(tmp_path: Path, module: str) -> Path:
    tmp_path.mkdir(parents=True)
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    config = config[: config.index("\nvalidation:")]  # the project's nav and link checks stay out
    (tmp_path / "mkdocs.yml").write_text(config + "\nnav:\n  - Home: index.md\n", encoding="utf-8")
    shutil.copytree(ROOT / "docs" / "_ext", tmp_path / "docs" / "_ext")
    (tmp_path / "docs" / "index.md").write_text("# Home\n\n::: docmod\n", encoding="utf-8")
    (tmp_path / "docmod.py").write_text(module, encoding="utf-8")
    return tmp_path


def _build(site: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site), "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        ["bash", "-c", _ci_docs_command()], cwd=site, env=env, capture_output=True, text=True, timeout=300
    )


def test_ci_builds_the_docs_without_hiding_warnings() -> None:
    command = _ci_docs_command()
    assert "--strict" in command.split()
    assert not re.search(r"(^|\s)(--quiet|-q)(\s|$)", command), command


def test_a_broken_docstring_fails_the_ci_docs_command(tmp_path: Path) -> None:
    good = _build(_site(tmp_path / "good", GOOD))
    assert good.returncode == 0, good.stdout + good.stderr
    broken = _build(_site(tmp_path / "broken", BROKEN))
    assert broken.returncode != 0
    assert "Failed to get 'exception: description' pair" in broken.stdout + broken.stderr


def _requirement_name(line: str) -> str:
    return re.split(r"[<>=!~;\[ ]", line.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_ci_installs_through_the_committed_constraints() -> None:
    run = (ROOT / ".ci" / "run").read_text()
    export = run.index('export PIP_CONSTRAINT="$PWD/.ci/constraints.txt"')
    assert export < run.index('bash -euo pipefail -c "$install_cmd"')


def test_the_constraints_pin_every_dependency_but_torch() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    wanted += project["optional-dependencies"]["docs"] + project["optional-dependencies"]["features"]
    pinned = {
        _requirement_name(ln): ln.split("==", 1)[1].strip()
        for ln in (ROOT / ".ci" / "constraints.txt").read_text().splitlines()
        if ln and not ln.startswith((" ", "#"))
    }
    names = {_requirement_name(req) for req in wanted if "python_version < '3.11'" not in req}
    missing = sorted(names - {"torch"} - pinned.keys())
    assert not missing, f"refresh the lock with `bash .ci/lock`: {missing} are not pinned"
    assert "torch" not in pinned  # the README's install command chooses torch's build
