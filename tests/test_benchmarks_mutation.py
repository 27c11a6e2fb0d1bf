"""The mutation-testing harness (benchmarks/mutation.py): mutants made on the syntax tree and
addressed by function, not line; each one really changes the module the tests import; the
committed run is over the listed modules and scores what the docs say."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"

SOURCE = '''
"""A module docstring with 1 < 2 in it."""


def clip(x, lo=0, *, flag=True):
    """Docstring: 3 > 2."""
    if x < lo and flag:
        raise ValueError(f"x={x} is below {lo + 1}")
    y = max(x, lo) / 2
    total = x.sum() + -x
    return not y, total


class Box:
    def area(self):
        return self.w * self.h
'''


@pytest.fixture(scope="module")
def mutation():
    name = "mutation"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCH / "mutation.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_mutants_are_made_on_the_tree_and_named_by_function(mutation):
    ms = mutation.mutants_of("m.py", SOURCE)
    ids = [m.id for m in ms]
    assert len(ids) == len(set(ids))
    assert {
        "m.py::clip::Lt->LtE#0",
        "m.py::clip::And->Or#0",
        "m.py::clip::max->min#0",
        "m.py::clip::swap-args#0",
        "m.py::clip::drop-division#0",
        "m.py::clip::Div->Mult#0",
        "m.py::clip::number+1#0",
        "m.py::clip::sum->mean#0",
        "m.py::clip::drop-minus#0",
        "m.py::clip::drop-not#0",
        "m.py::clip::delete#0",
        "m.py::Box.area::Mult->Div#0",
    } <= set(ids)
    # docstrings, default values, f-strings and raise statements are not mutated
    assert not any(m.line in (2, 6, 8) or m.function == "clip" and m.line == 5 for m in ms)
    # adding code above a function changes line numbers, never addresses
    moved = mutation.mutants_of("m.py", "import os\n\n\n" + SOURCE)
    assert [m.id for m in moved] == ids and all(a.line + 3 == b.line for a, b in zip(ms, moved, strict=True))


def test_a_mutant_changes_exactly_its_place(mutation):
    tree, after = mutation.mutate(SOURCE, "m.py", "clip", "Lt->LtE", 0)
    assert after == "x <= lo"
    assert "if x <= lo and flag:" in ast.unparse(tree) and ast.unparse(tree).count("<=") == 1
    tree, after = mutation.mutate(SOURCE, "m.py", "clip", "drop-division", 0)
    assert after == "max(x, lo)" and "y = max(x, lo)\n" in ast.unparse(tree)
    tree, _ = mutation.mutate(SOURCE, "m.py", "clip", "number+1", 0)
    assert "max(x, lo) / 3" in ast.unparse(tree)
    with pytest.raises(LookupError, match=r"no place #5 for 'Lt->LtE'"):
        mutation.mutate(SOURCE, "m.py", "clip", "Lt->LtE", 5)
    with pytest.raises(LookupError, match=r"no function 'nope'"):
        mutation.mutate(SOURCE, "m.py", "nope", "Lt->LtE", 0)


def test_the_sample_is_seeded_and_in_source_order(mutation):
    ms = mutation.mutants_of("m.py", SOURCE)
    a = mutation.sample(ms, "m.py", 4, seed=0)
    assert a == mutation.sample(ms, "m.py", 4, seed=0) and len(a) == 4
    assert [ms.index(m) for m in a] == sorted(ms.index(m) for m in a)
    assert mutation.sample(ms, "m.py", 4, seed=1) != a and mutation.sample(ms, "m.py", 999, 0) == ms


def test_every_target_names_tests_that_exist(mutation):
    docs = {}
    for test in ("test_evaluate_docstring_examples", "test_core_docstring_examples"):
        text = (ROOT / "tests" / f"{test}.py").read_text()
        docs[f"tests/{test}.py"] = ast.literal_eval(text.split("MODULES = ", 1)[1].split("\n]\n", 1)[0] + "]")
    for module, tests in mutation.TARGETS.items():
        assert (ROOT / module).is_file(), module
        for test in tests:
            path, _, node = test.partition("::")
            assert (ROOT / path).is_file(), test
            if node:
                assert node.split("[", 1)[1].rstrip("]") in docs[path], test


def test_help_and_list_run(mutation, capsys):
    with pytest.raises(SystemExit) as done:
        mutation.main(["--help"])
    assert done.value.code == 0 and "--smoke" in capsys.readouterr().out
    listed = mutation.main(["--list", "--modules", "modgen/evaluate/quality.py", "--per-module", "5"])
    assert len(listed["mutants"]) == 5 and all(m["after"] for m in listed["mutants"])
    with pytest.raises(SystemExit):
        mutation.main(["--smoke", "--doc"])


def test_smoke_run_kills_its_mutants(tmp_path):
    """Two mutants of the nearest-class-mean measures, each killed by the tests of its module (in
    a child that imports the mutated module), nothing written into the repository."""
    before = sorted(p.name for p in (BENCH / "results").iterdir())
    out = tmp_path / "m.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, str(BENCH / "mutation.py"), "--smoke", "--json", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert [m["outcome"] for m in result["mutants"]] == ["killed"] * len(result["mutants"])
    assert len(result["mutants"]) >= 2 and result["totals"]["score"] == 100.0
    assert all(m["failed"].startswith("tests/") for m in result["mutants"])
    assert sorted(p.name for p in (BENCH / "results").iterdir()) == before


def test_the_committed_run_covers_the_core_and_reaches_95_percent(mutation):
    path = BENCH / "results" / "mutation.json"
    if not path.is_file():
        pytest.skip("no committed mutation run yet")
    result = json.loads(path.read_text())
    assert "+dirty" not in result["commit"]
    assert set(result["modules"]) == set(mutation.TARGETS)
    assert result["totals"]["score"] >= 95.0
    for m in result["mutants"]:
        if m["outcome"] == "equivalent":
            assert mutation.EQUIVALENT.get(m["id"]), m["id"]
