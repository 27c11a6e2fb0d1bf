"""Every committed benchmark and probe runs at HEAD: each answers ``--help``, shows its smoke
command in its Usage, and runs its smallest setting (``--smoke``), so that a figure in the docs
always has a command that still works.

The scripts are found by globbing ``benchmarks/``; a new one fails here until it has an entry in
:data:`SMOKE` (or, for a module the scripts import, in :data:`LIBRARIES` with the reason).
"""

from __future__ import annotations

import ast
import os
import re
import runpy
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"

#: Modules under benchmarks/ that are not scripts, and why they have no smoke run.
LIBRARIES = {
    "benchlib.py": "the scripts' shared helpers, imported and never run; tests/test_benchmarks.py tests them",
}

#: A Markdown table with at least one measured row: a separator line, then a row with a number.
TABLE = r"(?m)^\|[-:| ]+\|\n\|.*\d.*\|$"

#: Each script's smoke run: ``(arguments, what its output must show)``, run here in a fresh
#: process; or the name of the test in tests/test_benchmarks.py that already runs its ``--smoke``
#: in-process (not run twice).
SMOKE: dict[str, tuple[list[str], list[str]] | str] = {
    "accuracy.py": (["--smoke"], [TABLE, r"\| amaz \| svm \| \d"]),
    "classifiers.py": (["--smoke"], [r"ZSL top-1 mean \d", r"fit_grid \d", r"LinearSVC \d+ ms"]),
    "default_run.py": (["--smoke"], [TABLE, r"Evaluation's parts"]),
    "evaluation_speed.py": (["--smoke"], [TABLE, r"\| same settings \| \d"]),
    "floor_speed.py": (["--smoke"], [TABLE, r"Floor chosen: eszsl", r"1e-3\.\.1e3 grids\): \d"]),
    "science.py": "test_science_quick_gives_paired_differences_and_the_floor",
    "speed.py": "test_speed_quick_runs_and_writes_json_and_markdown",
    "stability.py": (["--smoke"], [TABLE, r"\| zsml \| svm \| \d"]),
    "startup.py": (["--smoke"], [TABLE, r"\| modgen --version \| \d"]),
    "threads.py": (["--smoke"], [TABLE, r"\| train \| \d", r"\| evaluate \| \d"]),
    "probes/divergence_trace.py": (["--smoke"], [TABLE, r"\| 6 \| \d", r"Reached the last episode"]),
    "probes/closed_form_directions.py": (["--smoke"], [TABLE, r"real unseen class means"]),
    "probes/per_task_speed.py": (["--smoke"], [TABLE, r"\| task-vmap \| \d", r"\| reference \| \d"]),
    "probes/imagenet_floor.py": (["--smoke"], [TABLE, r"\| eszsl \| \d", r"\| test split \| \d"]),
    "probes/power_plan.py": (["--smoke"], [TABLE, r"\| zsml \| eszsl \| [+-]\d", r"splits needed"]),
    "probes/modulation_transfer.py": (["--smoke"], [TABLE, r"\| 0 \| \d"]),
    "probes/training_length.py": (["--smoke"], [TABLE, r"\| 4 \| \d+ \| \d"]),
    # its --smoke runs in tests/test_benchmarks_mutation.py::test_smoke_run_kills_its_mutants
    "mutation.py": "test_benchmarks_mutation.py::test_smoke_run_kills_its_mutants",
}

#: Where a smoke run must not write (the committed tables and results).
PROTECTED = (ROOT / "docs", BENCH / "results")

#: Seconds a smoke run may take before it counts as hung (each takes well under a minute).
TIMEOUT = 600


def _discovered() -> list[str]:
    """Every ``.py`` file under benchmarks/, relative to it, with ``/`` separators."""
    return sorted(
        p.relative_to(BENCH).as_posix()
        for p in BENCH.rglob("*.py")
        if "__pycache__" not in p.parts and "results" not in p.relative_to(BENCH).parts
    )


SCRIPTS = [s for s in _discovered() if s not in LIBRARIES]


def _snapshot() -> dict[str, tuple[int, int]]:
    return {
        str(p): (p.stat().st_mtime_ns, p.stat().st_size)
        for folder in PROTECTED
        if folder.is_dir()
        for p in folder.rglob("*")
        if p.is_file()
    }


def _tests_in_test_benchmarks() -> tuple[dict[str, str], set[str]]:
    """tests/test_benchmarks.py: each test function's source, and the module-level names whose
    value holds ``--smoke`` (argument lists the tests splice in)."""
    path = Path(__file__).with_name("test_benchmarks.py")
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    functions = {
        node.name: ast.get_source_segment(text, node) or ""
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    }
    smoke_lists = {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign | ast.AnnAssign)
        and "--smoke" in (ast.get_source_segment(text, node) or "")
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name)
    }
    return functions, smoke_lists


def test_every_script_has_a_smoke_entry():
    """A script added to benchmarks/ needs a smoke run here; a removed one, its entry removed."""
    found = set(_discovered())
    missing = sorted(found - set(SMOKE) - set(LIBRARIES))
    stale = sorted((set(SMOKE) | set(LIBRARIES)) - found)
    assert not missing, (
        f"benchmarks/{', benchmarks/'.join(missing)}: no smoke run; give the script a --smoke flag "
        "(benchlib.add_smoke_flag) and an entry in SMOKE in tests/test_benchmark_scripts.py"
    )
    assert not stale, f"SMOKE or LIBRARIES names scripts that are gone: {stale}"
    assert not set(SMOKE) & set(LIBRARIES)


@pytest.fixture
def isolated_imports():
    """Run a script in this process and forget it: sys.path, sys.argv and the benchmark modules
    it imported are restored afterwards."""
    path, argv = list(sys.path), list(sys.argv)
    before = set(sys.modules)
    yield
    sys.path[:], sys.argv[:] = path, argv
    for name in set(sys.modules) - before:
        file = getattr(sys.modules[name], "__file__", None) or ""
        if file.startswith((str(BENCH), str(ROOT / "tests"))):
            del sys.modules[name]


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_answers_help_and_shows_its_smoke_command(script, isolated_imports, capsys):
    """``python benchmarks/<script> --help`` exits 0 and offers ``--smoke``; the module's Usage shows
    the smoke command. Run in this process (as ``__main__``, its folder first on sys.path, as
    ``python`` does), so that importing torch is paid once, not once per script."""
    path = BENCH / script
    sys.path.insert(0, str(path.parent))
    sys.argv[:] = [str(path), "--help"]
    with pytest.raises(SystemExit) as exit_:
        runpy.run_path(str(path), run_name="__main__")
    out = capsys.readouterr().out
    assert exit_.value.code in (0, None), f"{script} --help exited with {exit_.value.code}"
    assert out.startswith("usage:") and "--smoke" in out, out
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    usage = doc.partition("Usage")[2]
    assert re.search(rf"python benchmarks/{re.escape(script)} --smoke\b", usage), (
        f"the Usage of benchmarks/{script} does not show `python benchmarks/{script} --smoke`"
    )


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_runs_its_smoke_setting(script, tmp_path):
    """The smoke run exits 0, prints what it measured, and writes nothing into docs/ or
    benchmarks/results/ (it needs neither a clean tree nor any git history)."""
    if script not in SMOKE:
        pytest.fail(f"benchmarks/{script} has no entry in SMOKE (tests/test_benchmark_scripts.py)")
    entry = SMOKE[script]
    if isinstance(entry, str) and "::" in entry:  # run by a test file of its own: check it exists
        file, name = entry.split("::")
        source = Path(__file__).with_name(file).read_text(encoding="utf-8")
        assert re.search(rf"^def {name}\(", source, flags=re.M), f"SMOKE[{script!r}]: {entry} does not exist"
        assert "--smoke" in source and script in source, f"{entry} does not run {script} --smoke"
        return
    if isinstance(entry, str):  # run in-process by tests/test_benchmarks.py: check that it does
        functions, smoke_lists = _tests_in_test_benchmarks()
        assert entry in functions, f"SMOKE[{script!r}] names {entry}, which tests/test_benchmarks.py lacks"
        source = functions[entry]
        assert f"{Path(script).stem}.main(" in source, f"{entry} does not run {script}"
        assert "--smoke" in source or any(re.search(rf"\b{n}\b", source) for n in smoke_lists), (
            f"{entry} does not run {script} with --smoke"
        )
        return
    argv, shows = entry
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env.setdefault("OMP_NUM_THREADS", "1")
    before = _snapshot()
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(BENCH / script), *argv],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # anything written to the working folder lands here
        env=env,
        timeout=TIMEOUT,
    )
    seconds = time.perf_counter() - t0
    tail = f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    assert proc.returncode == 0, (
        f"python benchmarks/{script} {' '.join(argv)} failed after {seconds:.0f} s\n{tail}"
    )
    for pattern in shows:
        assert re.search(pattern, proc.stdout), f"output lacks {pattern!r}\n{tail}"
    assert _snapshot() == before, (
        f"benchmarks/{script} {' '.join(argv)} wrote into docs/ or benchmarks/results/"
    )
