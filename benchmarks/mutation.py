"""Mutation testing of modgen's core: plant one small bug at a time, and see whether the tests notice.

A mutant is one change to the body of one function, made on the module's syntax tree (never on
its text): a comparison flipped (``<`` -> ``<=``, ``==`` -> ``!=``, ``in`` -> ``not in``), an
arithmetic operator swapped (``+``/``-``, ``*``/``/``, ``//`` -> ``/``, ``**`` -> ``*``, ``|``/``&``),
a division dropped (``a / b`` -> ``a``), ``and``/``or`` swapped, a ``not`` or a unary minus
dropped, ``True``/``False`` swapped, a number changed (``n`` -> ``n + 1``), a called name
swapped (``argmax``/``argmin``, ``min``/``max``, ``mean``/``sum``, ``any``/``all``,
``floor``/``ceil``), the first two positional arguments of a call swapped, or a statement
(an assignment or a call) deleted. Docstrings, decorators, default values, annotations,
f-strings and ``raise`` statements (error messages) are left alone.

A mutant is addressed as ``<module path>::<function qualname>::<operator>#<k>``: the k-th place
(in source order) where that operator applies in that function. The address does not use line
numbers or copied text, so it survives edits elsewhere in the file; a function that moves to
another module gets new addresses there.

How a mutant is run. The parent process imports the heavy third-party libraries once (torch,
NumPy, scikit-learn, pytest, ...) and forgets modgen; for each mutant it forks a child that
imports modgen afresh with the mutated module compiled from the mutated tree (an import hook,
so code that runs at import time sees the mutant too) and runs the mutant's module's tests
(:data:`TARGETS`) with ``pytest -x``. Tests that start other Python processes see the unmutated
code there. Before the mutants, each module's tests run once unmutated: they must pass, and
their time sets the mutant's time limit (``--timeout-factor`` times it, at least ``--timeout``).

Outcomes: ``killed`` (a test failed or errored, or the child died), ``timeout`` (over the
limit; counted as detected, as mutation tools do), ``survived`` (every test passed),
``equivalent`` (a survivor listed in :data:`EQUIVALENT` with the reason it cannot change what
the code computes, decided by reading the code), ``error`` (the tests could not run; counted as
not detected). Score = (killed + timeout) / (mutants - equivalent).

Sampling. All mutants of a module are generated; a module with more than ``--per-module`` of
them contributes a sample of that many, drawn with ``random.Random(f"{seed}:{module}")`` from
the list in source order (so the sample changes only when the module's own code changes),
kept in source order.

Usage:
    python benchmarks/mutation.py --list                 # every mutant of the sample, no run
    python benchmarks/mutation.py --smoke                # 3 mutants, to check the harness runs
    python benchmarks/mutation.py --only '*quality.py::ncm_accuracy::*'
    python benchmarks/mutation.py --doc                  # clean tree: results into the repository
"""

from __future__ import annotations

import argparse
import ast
import copy
import fnmatch
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))

ROOT = Path(__file__).resolve().parents[1]

_EVAL_DOCS = "tests/test_evaluate_docstring_examples.py::test_docstring_examples"
_CORE_DOCS = "tests/test_core_docstring_examples.py::test_docstring_examples"

#: The modules under test and the tests each mutant of them runs (focused ones first: ``-x``
#: stops at the first failure).
TARGETS: dict[str, tuple[str, ...]] = {
    "modgen/functional/modulation.py": (
        "tests/test_functional_modulation.py",
        f"{_CORE_DOCS}[modgen.functional.modulation]",
        "tests/test_nn_networks.py",
    ),
    "modgen/functional/losses.py": (
        "tests/test_functional_losses.py",
        "tests/test_functional_losses_edges.py",
        f"{_CORE_DOCS}[modgen.functional.losses]",
    ),
    "modgen/functional/lowrank.py": (
        "tests/test_functional_lowrank.py",
        "tests/test_functional_lowrank_operands.py",
        f"{_CORE_DOCS}[modgen.functional.lowrank]",
        "tests/test_train_task_adaptation.py",
    ),
    "modgen/evaluate/metrics.py": (
        "tests/test_evaluate_metrics.py",
        f"{_EVAL_DOCS}[modgen.evaluate.metrics]",
        "tests/test_evaluate_quality.py",
    ),
    "modgen/evaluate/quality.py": (
        "tests/test_evaluate_quality.py",
        f"{_EVAL_DOCS}[modgen.evaluate.quality]",
    ),
    "modgen/classify/softmax.py": (
        "tests/test_classify_estimators.py",
        "tests/test_classify_edges.py",
        f"{_EVAL_DOCS}[modgen.classify.softmax]",
        "tests/test_classify_sklearn.py",
    ),
    "modgen/classify/svm.py": (
        "tests/test_classify_estimators.py",
        "tests/test_classify_edges.py",
        f"{_EVAL_DOCS}[modgen.classify.svm]",
        "tests/test_classify_sklearn.py",
    ),
    "modgen/classify/_variant.py": (
        "tests/test_classify_estimators.py",
        "tests/test_classify_edges.py",
        f"{_CORE_DOCS}[modgen.classify._variant]",
        "tests/test_classify_sklearn.py",
    ),
    "modgen/baselines.py": (
        "tests/test_baselines.py",
        "tests/test_baselines_edges.py",
        f"{_CORE_DOCS}[modgen.baselines]",
    ),
    "modgen/data/sampler.py": (
        "tests/test_data_sampler.py",
        f"{_CORE_DOCS}[modgen.data.sampler]",
    ),
    "modgen/train/meta.py": (
        "tests/test_train_meta_reference.py",
        "tests/test_train_task_adaptation.py",
        "tests/test_train.py",
        f"{_CORE_DOCS}[modgen.train.meta]",
    ),
    "modgen/rundir.py": (
        "tests/test_rundir.py",
        f"{_EVAL_DOCS}[modgen.rundir]",
    ),
}

#: Survivors that cannot change what the code computes, each with the reason (decided by
#: reading the code; a listed mutant that is killed is reported as killed).
EQUIVALENT: dict[str, str] = {
    "modgen/functional/modulation.py::_check_param_shape::swap-args#0": (
        "torch.broadcast_shapes is symmetric: the same shape, or a RuntimeError (re-raised as the same "
        "ShapeError), for either order of its arguments"
    ),
    "modgen/functional/lowrank.py::TaskParameter._make::False->True#0": (
        "the flag only sets what the handle's own requires_grad reports; every operation on a handle is "
        "redirected by __torch_function__ to the shared tensor and the per-task steps, and nothing reads "
        "the handle's flag"
    ),
    "modgen/classify/svm.py::_Problem.__init__::number+1#0": (
        "the chunk size only partitions the rows the objective is summed over, and it is 1 instead of 2 "
        "only for more than 2**23 classes"
    ),
    "modgen/train/meta.py::MetaTrainer._sgd::True->False#0": (
        "foreach only picks the kernel: torch._foreach_add(params, grads, alpha=-lr) and torch.add(p, g, "
        "alpha=-lr) per tensor compute the same values"
    ),
    "modgen/train/meta.py::MetaTrainer._per_task::number+1#2": (
        "k.split('.', n)[0] is the text before the first dot for any n >= 1"
    ),
}

#: The mutants ``--smoke`` runs (module, how many): fast tests, a few seconds each.
SMOKE = ("modgen/evaluate/quality.py", 2)

_CMP_FLIP: dict[type, type] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
_BIN_SWAP: dict[type, type] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Div,
    ast.Pow: ast.Mult,
    ast.BitOr: ast.BitAnd,
    ast.BitAnd: ast.BitOr,
}
_NAME_SWAP = {
    "argmax": "argmin",
    "argmin": "argmax",
    "min": "max",
    "max": "min",
    "amin": "amax",
    "amax": "amin",
    "minimum": "maximum",
    "maximum": "minimum",
    "mean": "sum",
    "sum": "mean",
    "any": "all",
    "all": "any",
    "floor": "ceil",
    "ceil": "floor",
}
#: The builtins among them (``sum`` -> ``mean`` would only raise a NameError).
_BUILTIN_SWAP = {"min", "max", "any", "all"}
#: Calls whose arguments are not swapped: swapping them only raises a TypeError.
_NO_ARG_SWAP = {"isinstance", "issubclass", "getattr", "setattr", "hasattr", "print", "cast"}


@dataclass(frozen=True)
class Mutant:
    """One planted bug: ``operator``'s ``index``-th place in ``function`` of ``module``."""

    module: str
    function: str
    operator: str
    index: int
    line: int
    before: str
    after: str

    @property
    def id(self) -> str:
        return f"{self.module}::{self.function}::{self.operator}#{self.index}"


# -- generating mutants ---------------------------------------------------------------------------


@dataclass
class _Site:
    operator: str
    node: ast.AST  # the node whose source is shown (before and after)
    apply: Callable[[], ast.AST]  # changes the tree; returns the node to show after


def _functions(tree: ast.Module) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Module-level functions and methods (of classes at any depth), with their qualnames."""

    def walk(body: list[ast.stmt], prefix: str) -> Iterator[tuple[str, Any]]:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield prefix + node.name, node
            elif isinstance(node, ast.ClassDef):
                yield from walk(node.body, f"{prefix}{node.name}.")

    seen: dict[str, int] = {}
    found = list(walk(tree.body, ""))
    for name, _ in found:
        seen[name] = seen.get(name, 0) + 1
    for name, node in found:
        if seen[name] == 1:  # a property's getter and setter share a name: neither is addressable
            yield name, node


def _is_docstring(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def _is_str(node: ast.AST) -> bool:
    return isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str))


def _sites(func: ast.FunctionDef | ast.AsyncFunctionDef) -> Iterator[_Site]:
    """Every place a mutation operator applies in ``func``'s body, in source order."""
    parents = {child: node for node in ast.walk(func) for child in ast.iter_child_nodes(node)}

    def shown(node: ast.AST) -> ast.AST:
        """What a report shows of a change at ``node``: a number with the expression around it."""
        if isinstance(node, ast.Constant) or isinstance(parents.get(node), ast.UnaryOp):
            node = parents.get(node, node)
        while isinstance(node, (ast.keyword, ast.UnaryOp)) and node in parents:
            node = parents[node]
        return node

    def body_list(stmts: list[ast.stmt]) -> Iterator[_Site]:
        for i, stmt in enumerate(stmts):
            if _is_docstring(stmt) and i == 0:
                continue
            deletable = isinstance(stmt, (ast.Assign, ast.AugAssign)) or (
                isinstance(stmt, ast.AnnAssign) and stmt.value is not None
            )
            deletable = deletable or (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call))
            if deletable:

                def delete(stmts: list[ast.stmt] = stmts, i: int = i) -> ast.AST:
                    stmts[i] = ast.copy_location(ast.Pass(), stmts[i])
                    return stmts[i]

                yield _Site("delete", stmt, delete)
            yield from node_sites(stmt)

    def node_sites(node: ast.AST) -> Iterator[_Site]:
        if isinstance(node, (ast.Raise, ast.JoinedStr)):
            return
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            if isinstance(node, ast.Lambda):
                yield from node_sites(node.body)
            else:
                yield from body_list(node.body)
            return
        if isinstance(node, ast.ClassDef):
            yield from body_list(node.body)
            return
        yield from own_sites(node)
        for field, value in ast.iter_fields(node):
            if field in ("annotation", "returns", "decorator_list", "type_comment"):
                continue
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                yield from body_list(value)
            elif isinstance(value, list):
                for item in value:
                    if isinstance(item, ast.AST):
                        yield from node_sites(item)
            elif isinstance(value, ast.AST):
                yield from node_sites(value)

    def own_sites(node: ast.AST) -> Iterator[_Site]:
        if isinstance(node, ast.Compare):
            for j, op in enumerate(node.ops):
                new = _CMP_FLIP.get(type(op))
                if new is not None:

                    def flip(node: ast.Compare = node, j: int = j, new: type = new) -> ast.AST:
                        node.ops[j] = new()
                        return node

                    yield _Site(f"{type(op).__name__}->{new.__name__}", node, flip)
        elif isinstance(node, (ast.BinOp, ast.AugAssign)):
            new = _BIN_SWAP.get(type(node.op))
            strings = isinstance(node, ast.BinOp) and (_is_str(node.left) or _is_str(node.right))
            if new is not None and not strings:

                def swap(node: ast.BinOp | ast.AugAssign = node, new: type = new) -> ast.AST:
                    node.op = new()
                    return node

                yield _Site(f"{type(node.op).__name__}->{new.__name__}", node, swap)
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and not strings:
                yield _Site("drop-division", node, _replace_with(node, lambda n: n.left))
        elif isinstance(node, ast.BoolOp):
            new = ast.Or if isinstance(node.op, ast.And) else ast.And

            def boolop(node: ast.BoolOp = node, new: type = new) -> ast.AST:
                node.op = new()
                return node

            yield _Site(f"{type(node.op).__name__}->{new.__name__}", node, boolop)
        elif isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.Not):
                yield _Site("drop-not", node, _replace_with(node, lambda n: n.operand))
            elif isinstance(node.op, ast.USub) and not isinstance(node.operand, ast.Constant):
                yield _Site("drop-minus", node, _replace_with(node, lambda n: n.operand))
        elif isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool):

                def negate(node: ast.Constant = node, context: ast.AST = shown(node)) -> ast.AST:
                    node.value = not node.value
                    return context

                yield _Site(f"{value}->{not value}", shown(node), negate)
            elif isinstance(value, (int, float)) and not isinstance(value, complex):

                def bump(node: ast.Constant = node, context: ast.AST = shown(node)) -> ast.AST:
                    node.value = node.value + 1
                    return context

                yield _Site("number+1", shown(node), bump)
        elif isinstance(node, ast.Call):
            func = node.func
            name = (
                func.id
                if isinstance(func, ast.Name)
                else func.attr
                if isinstance(func, ast.Attribute)
                else None
            )
            if name in _NAME_SWAP and (isinstance(func, ast.Attribute) or name in _BUILTIN_SWAP):
                new_name = _NAME_SWAP[name]

                def rename(func: ast.expr = func, new_name: str = new_name) -> ast.AST:
                    if isinstance(func, ast.Name):
                        func.id = new_name
                    else:
                        assert isinstance(func, ast.Attribute)
                        func.attr = new_name
                    return node

                yield _Site(f"{name}->{new_name}", node, rename)
            args = node.args
            if (
                len(args) >= 2
                and name not in _NO_ARG_SWAP
                and not any(isinstance(a, ast.Starred) for a in args[:2])
                and ast.dump(args[0]) != ast.dump(args[1])
            ):

                def swap_args(node: ast.Call = node) -> ast.AST:
                    node.args[0], node.args[1] = node.args[1], node.args[0]
                    return node

                yield _Site("swap-args", node, swap_args)

    yield from body_list(func.body)


def _replace_with(node: Any, pick: Callable[[Any], ast.AST]) -> Callable[[], ast.AST]:
    """Replace ``node`` in place by ``pick(node)`` (the node keeps its identity in its parent)."""

    def apply() -> ast.AST:
        new = copy.deepcopy(pick(node))
        node.__class__ = new.__class__
        node.__dict__.clear()
        node.__dict__.update(new.__dict__)
        return node

    return apply


def _short(node: ast.AST, limit: int = 90) -> str:
    text = " ".join(ast.unparse(node).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def mutants_of(module: str, source: str) -> list[Mutant]:
    """Every mutant of ``module`` (a path relative to the repository), in source order."""
    out = []
    tree = ast.parse(source)
    for qualname, func in _functions(tree):
        counts: dict[str, int] = {}
        for site in _sites(func):
            k = counts.get(site.operator, 0)
            counts[site.operator] = k + 1
            line = getattr(site.node, "lineno", 0)
            out.append(Mutant(module, qualname, site.operator, k, line, _short(site.node), ""))
    return out


def with_after(source: str, mutant: Mutant) -> Mutant:
    """``mutant`` with the mutated node's source filled in (made on a fresh tree)."""
    return replace(
        mutant, after=mutate(source, mutant.module, mutant.function, mutant.operator, mutant.index)[1]
    )


def mutate(source: str, module: str, function: str, operator: str, index: int) -> tuple[ast.Module, str]:
    """The tree of ``source`` with the mutant applied, and the mutated node's source.

    Raises:
        LookupError: no such function or place (the module changed since the address was made).
    """
    tree = ast.parse(source)
    func = dict(_functions(tree)).get(function)
    if func is None:
        raise LookupError(f"{module}: no function {function!r}")
    k = 0
    for site in _sites(func):
        if site.operator == operator:
            if k == index:
                after = site.apply()
                ast.fix_missing_locations(tree)
                return tree, _short(after)
            k += 1
    raise LookupError(f"{module}::{function}: no place #{index} for {operator!r}")


def sample(mutants: list[Mutant], module: str, per_module: int, seed: int) -> list[Mutant]:
    """At most ``per_module`` of ``mutants``: a seeded sample, kept in source order."""
    if len(mutants) <= per_module:
        return list(mutants)
    keep = sorted(random.Random(f"{seed}:{module}").sample(range(len(mutants)), per_module))
    return [mutants[i] for i in keep]


def module_name(path: str) -> str:
    return path[: -len(".py")].replace("/", ".").removesuffix(".__init__")


# -- running them ---------------------------------------------------------------------------------


class _MutantLoader(importlib.machinery.SourceFileLoader):
    def __init__(self, fullname: str, path: str, code: Any) -> None:
        super().__init__(fullname, path)
        self._code = code

    def get_code(self, fullname: str) -> Any:
        return self._code


class _MutantFinder(importlib.abc.MetaPathFinder):
    """Imports one module from a mutated tree instead of its file."""

    def __init__(self, fullname: str, path: str, code: Any) -> None:
        self.fullname, self.path, self.code = fullname, path, code

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != self.fullname:
            return None
        return importlib.util.spec_from_file_location(
            fullname, self.path, loader=_MutantLoader(fullname, self.path, self.code)
        )


class _FirstFailure:
    """A pytest plugin that records the first failing test."""

    def __init__(self) -> None:
        self.failed: str | None = None

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.failed and self.failed is None:
            self.failed = report.nodeid

    def pytest_collectreport(self, report: Any) -> None:
        if report.failed and self.failed is None:
            self.failed = f"collecting {report.nodeid}"


def _preload() -> None:
    """Import what the tests import, then forget modgen, so that each child imports only modgen."""
    import modgen.plugins

    modgen.plugins.get_registries(entry_points=False)
    for path in TARGETS:
        importlib.import_module(module_name(path))
    for name in ("modgen.pipeline", "modgen.train.loop", "modgen.evaluate", "modgen.data.digits"):
        importlib.import_module(name)
    import hypothesis  # noqa: F401
    import pytest  # noqa: F401

    for name in [n for n in sys.modules if n == "modgen" or n.startswith("modgen.")]:
        del sys.modules[name]


def _child(mutant: Mutant | None, tests: tuple[str, ...], out: Path) -> None:
    """In the forked child: install the mutant, run the tests, write the outcome, exit."""
    os.setpgid(0, 0)
    log = os.open(out.with_suffix(".log"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    result: dict[str, Any]
    try:
        if mutant is not None:
            source = (ROOT / mutant.module).read_text(encoding="utf-8")
            tree, _ = mutate(source, mutant.module, mutant.function, mutant.operator, mutant.index)
            path = str(ROOT / mutant.module)
            code = compile(tree, path, "exec", dont_inherit=True)
            sys.meta_path.insert(0, _MutantFinder(module_name(mutant.module), path, code))
        import pytest

        first = _FirstFailure()
        args = [*tests, "-x", "-q", "-p", "no:cacheprovider", "--no-header", "-o", "addopts="]
        code_ = pytest.main(args, plugins=[first])
        result = {"exit": int(code_), "failed": first.failed}
    except BaseException:  # noqa: BLE001 - report anything, the parent decides
        result = {"exit": 99, "failed": None, "error": traceback.format_exc()}
    out.write_text(json.dumps(result), encoding="utf-8")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _run_one(mutant: Mutant | None, tests: tuple[str, ...], timeout: float, work: Path) -> dict[str, Any]:
    """Fork, run ``tests`` against ``mutant`` (``None``: unmutated), wait at most ``timeout`` s."""
    out = work / f"{os.getpid()}-{time.monotonic_ns()}.json"
    t0 = time.perf_counter()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        _child(mutant, tests, out)
    timed_out = True
    while time.perf_counter() - t0 < timeout:
        # exited? (not reaped yet: its process group stays ours until it is)
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            timed_out = False
            break
        time.sleep(0.05)
    seconds = round(time.perf_counter() - t0, 2)
    try:  # the child, on a timeout, and any process the tests left behind in its group
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    _, status = os.waitpid(pid, 0)
    if timed_out:
        return {"outcome": "timeout", "seconds": seconds, "failed": None}
    if not out.is_file():  # the child died (a crash in native code, say)
        return {"outcome": "killed", "seconds": seconds, "failed": f"child died (status {status})"}
    res = json.loads(out.read_text(encoding="utf-8"))
    code = res["exit"]
    outcome = {0: "survived", 1: "killed", 2: "killed"}.get(code, "error")
    detail = res.get("failed") or res.get("error") or f"pytest exit {code}"
    if outcome == "error":
        detail = f"pytest exit {code}: " + out.with_suffix(".log").read_text(errors="replace")[-2000:]
    return {"outcome": outcome, "seconds": seconds, "failed": detail}


# -- the report -----------------------------------------------------------------------------------


def _tally(records: list[dict[str, Any]]) -> dict[str, Any]:
    counts = {k: 0 for k in ("killed", "timeout", "survived", "equivalent", "error")}
    for r in records:
        counts[r["outcome"]] += 1
    total = len(records)
    judged = total - counts["equivalent"]
    detected = counts["killed"] + counts["timeout"]
    return {"mutants": total, **counts, "score": (100.0 * detected / judged) if judged else float("nan")}


def _markdown(result: dict[str, Any]) -> str:
    s = result["settings"]
    m = result["machine"]
    lines = [
        f"Mutation testing of the core modules: `python benchmarks/mutation.py{s['command_flags']}`, "
        f"commit `{result['commit']}`, {result['date']}, {m['cpu_model']} ({m['cpu_cores']} cores), "
        f"torch {m['torch']}; {result['seconds']:.0f} s.",
        "",
        f"Sampling: at most {s['per_module']} mutants per module, a sample seeded with "
        f'`random.Random("{s["seed"]}:<module>")` when a module has more (the `candidates` column); '
        "each mutant runs its module's tests with `pytest -x`.",
        "",
        "| module | candidates | mutants | killed | timeout | survived | equivalent | error | score |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for module, row in result["modules"].items():
        t = row["counts"]
        lines.append(
            f"| `{module}` | {row['candidates']} | {t['mutants']} | {t['killed']} | {t['timeout']} | "
            f"{t['survived']} | {t['equivalent']} | {t['error']} | {t['score']:.1f}% |"
        )
    t = result["totals"]
    lines.append(
        f"| **all** | {sum(r['candidates'] for r in result['modules'].values())} | {t['mutants']} | "
        f"{t['killed']} | {t['timeout']} | {t['survived']} | {t['equivalent']} | {t['error']} | "
        f"**{t['score']:.1f}%** |"
    )
    lines.append("")
    for outcome, title in (("survived", "Surviving mutants"), ("error", "Mutants that could not run")):
        rows = [r for r in result["mutants"] if r["outcome"] == outcome]
        lines.append(f"{title}: {len(rows) or 'none'}.")
        for r in rows:
            lines.append(f"- `{r['id']}` (line {r['line']}): `{r['before']}` -> `{r['after']}`")
        lines.append("")
    eq = [r for r in result["mutants"] if r["outcome"] == "equivalent"]
    lines.append(f"Equivalent mutants (decided by reading the code): {len(eq) or 'none'}.")
    for r in eq:
        lines.append(f"- `{r['id']}` (line {r['line']}): `{r['before']}` -> `{r['after']}`: {r['reason']}")
    return "\n".join(lines).rstrip() + "\n"


# -- the command ----------------------------------------------------------------------------------


def select_mutants(modules: list[str], per_module: int, seed: int) -> dict[str, tuple[int, list[Mutant]]]:
    """``{module: (number of candidates, the sample)}``."""
    out = {}
    for module in modules:
        source = (ROOT / module).read_text(encoding="utf-8")
        every = mutants_of(module, source)
        out[module] = (len(every), [with_after(source, x) for x in sample(every, module, per_module, seed)])
    return out


def _untracked(tests: list[str]) -> list[str]:
    """The files of ``tests`` that git does not track (a committed result must be reproducible)."""
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True)
    tracked = set(listed.stdout.split())
    return sorted({t.split("::", 1)[0] for t in tests} - tracked)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from benchlib import add_doc_flag, commit_for, machine_info, publish, today, write_json

    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--smoke", action="store_true", help=f"run {SMOKE[1]} mutants of {SMOKE[0]} (no baseline)")
    p.add_argument("--list", action="store_true", help="list the sampled mutants and exit")
    p.add_argument("--modules", default="", help="comma-separated module paths (default: all of TARGETS)")
    p.add_argument(
        "--only", default="", help="run only mutants whose id matches one of these globs (comma-separated)"
    )
    p.add_argument(
        "--per-module", type=int, default=20, help="at most this many mutants per module (default 20)"
    )
    p.add_argument("--seed", type=int, default=0, help="the sampling seed (default 0)")
    p.add_argument("--timeout", type=float, default=60.0, help="the least time limit per mutant, seconds")
    p.add_argument(
        "--timeout-factor", type=float, default=4.0, help="limit = factor x the unmutated tests' time"
    )
    p.add_argument("--json", type=Path, default=None, help="also write the result here")
    add_doc_flag(p)
    args = p.parse_args(argv)
    if args.smoke and args.doc:
        p.error("--smoke does not write results into the repository; drop --doc")
    modules = [m.strip() for m in args.modules.split(",") if m.strip()] or list(TARGETS)
    if args.smoke:
        modules = [SMOKE[0]]
    unknown = [m for m in modules if m not in TARGETS]
    if unknown:
        p.error(f"--modules: {', '.join(unknown)} not among {', '.join(TARGETS)}")
    commit = commit_for(args.doc)
    if args.doc:
        missing = _untracked([t for m in modules for t in TARGETS[m]])
        if missing:
            raise SystemExit(f"tests not committed: {', '.join(missing)}; commit them first")

    chosen = select_mutants(modules, args.per_module, args.seed)
    if args.smoke:
        chosen = {m: (n, ms[: SMOKE[1]]) for m, (n, ms) in chosen.items()}
    if args.only:
        globs = args.only.split(",")
        chosen = {
            m: (n, [x for x in ms if any(fnmatch.fnmatch(x.id, g) for g in globs)])
            for m, (n, ms) in chosen.items()
        }
    if args.list:
        for _, ms in chosen.values():
            for x in ms:
                print(f"{x.id}  (line {x.line}): {x.before}  ->  {x.after}")
        print(f"{sum(len(ms) for _, ms in chosen.values())} mutants", file=sys.stderr)
        return {"mutants": [asdict(x) | {"id": x.id} for _, ms in chosen.values() for x in ms]}

    os.chdir(ROOT)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _preload()
    t_start = time.perf_counter()
    records: list[dict[str, Any]] = []
    modules_out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="modgen-mutation-") as tmp:
        work = Path(tmp)
        for module, (candidates, ms) in chosen.items():
            if not ms:
                continue
            tests = TARGETS[module]
            limit = args.timeout
            if not args.smoke:
                base = _run_one(None, tests, max(600.0, args.timeout), work)
                if base["outcome"] != "survived":
                    raise SystemExit(
                        f"{module}: its tests fail without a mutant ({base['failed']}); fix that first"
                    )
                limit = max(args.timeout, args.timeout_factor * base["seconds"])
                print(
                    f"{module}: tests pass unmutated in {base['seconds']:.1f} s; limit {limit:.0f} s",
                    flush=True,
                )
            rows = []
            for x in ms:
                r = _run_one(x, tests, limit, work)
                if r["outcome"] == "survived" and x.id in EQUIVALENT:
                    r = {**r, "outcome": "equivalent", "reason": EQUIVALENT[x.id]}
                rows.append({"id": x.id, **asdict(x), **r})
                print(
                    f"  {r['outcome']:<10} {r['seconds']:6.1f} s  {x.id}: {x.before} -> {x.after}", flush=True
                )
            records += rows
            modules_out[module] = {"tests": list(tests), "candidates": candidates, "counts": _tally(rows)}
    flags = " --smoke" if args.smoke else " --doc" if args.doc else ""
    if args.per_module != 20 or args.seed != 0:
        flags += f" --per-module {args.per_module} --seed {args.seed}"
    result: dict[str, Any] = {
        "commit": commit,
        "date": today(),
        "machine": machine_info("cpu"),
        "seconds": time.perf_counter() - t_start,
        "settings": {
            "per_module": args.per_module,
            "seed": args.seed,
            "timeout": args.timeout,
            "timeout_factor": args.timeout_factor,
            "only": args.only or None,
            "command_flags": flags,
        },
        "modules": modules_out,
        "totals": _tally(records),
        "mutants": records,
    }
    body = _markdown(result)
    measured = {k: v for k, v in result.items() if k not in ("commit", "date", "machine")}
    payload = publish(
        "mutation",
        body,
        commit=commit,
        machine=result["machine"],
        doc=args.doc,
        json_name="mutation.json",
        key="mutation",
        **measured,
    )
    if args.doc:
        (Path(__file__).resolve().parent / "results" / "mutation.md").write_text(body, encoding="utf-8")
    if args.json is not None:
        write_json(args.json, payload)
    return payload


if __name__ == "__main__":
    main()
