"""Bad inputs, generated from tables (issue #16): every one ends as one plain line.

Each case asserts the exit code, that the error is ONE line (no traceback, no rich markup
error), that the line names the culprit (path, key, value or component), and, where files
existed beforehand, that no file the user had is changed or lost (SHA-256 and mtime of every
file under the case's folder, before and after). The classes:

* data lost: a finished or running run started again, a folder with other files in it;
* disk and permissions: unwritable or file-blocked outputs, a full disk during a checkpoint or a
  metrics write (simulated in-process, and a real ``ulimit -f``), torn metrics, stale temporaries;
* numerical faults: non-finite settings, losses, weights and optimiser state;
* late validation: what the data or the classifiers cannot support fails before any folder exists;
* silently accepted before: flags that were ignored, keys that were dropped;
* checkpoints: missing or wrong entries, garbage, pickled code (never run);
* plugins: ``sys.exit`` at import, an entry-point name claimed twice, components that break
  their contract, a plugin trying to replace or remove a built-in;
* printing: ``[/x]`` and ``[bold]x`` printed as written, huge seeds, Ctrl-C.

Most cases run in-process through ``CliRunner``; a real subprocess holds a run folder for the
concurrent-writer cases and receives a real SIGINT.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import time
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from data_fixtures import col, write_tiny_xlsa17
from typer.testing import CliRunner

from modgen import hookimpl
from modgen.cli import build_app
from modgen.plugins import PluginWarning, get_registries
from modgen.rundir import RunDir
from modgen.train.checkpoint import load_checkpoint

runner = CliRunner()

TINY = ["--preset", "tiny", "--episodes", "2"]
FAST = [
    "--set",
    "evaluation.selection=none",
    "--set",
    "evaluation.seeds=1",
    "--set",
    'evaluation.classifiers=["svm"]',
]
TRAIN = ["train", *TINY, *FAST]
NEW = ["--out", "{tmp}/new"]  # a run folder that must never be created by a refused run
RESUME = ["train", "--resume", "{run}", "--episodes", "3"]
RO_REASON = r"(permission denied|operation not permitted|read-only)"


# ----------------------------------------------------------------------------------------------
# helpers


@pytest.fixture(scope="module")
def regs():
    return get_registries(entry_points=False)


def invoke(args: list[str], registries: Any) -> Any:
    return runner.invoke(build_app(registries, plugin_commands=False), [str(a) for a in args])


def error_line(result: Any, code: int, pattern: str) -> str:
    """Assert the exit code and that the output holds one error line matching ``pattern``."""
    out = result.output
    assert result.exit_code == code, out
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in out and "MarkupError" not in out, out
    errors = [line for line in out.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, out
    assert re.search(pattern, errors[0]), f"{errors[0]!r} does not match {pattern!r}"
    return errors[0]


def snapshot(root: Path, skip: tuple[str, ...] = ()) -> dict[str, tuple[str, int]]:
    """SHA-256 and mtime of every file under ``root`` (names in ``skip`` left out)."""
    return {
        str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in skip
    }


def train_episodes(run: Path) -> list[int]:
    return [r["episode"] for r in RunDir(run).read_metrics() if r.get("kind", "train") == "train"]


def unwritable_root() -> Path | None:
    """A folder no one can create anything in, root included (``/sys`` on Linux), or None."""
    root = Path("/sys")
    if not root.is_dir():
        return None
    probe = root / "modgen-bad-inputs-probe"
    try:
        probe.mkdir()
    except OSError:
        return root
    probe.rmdir()
    return None


AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture(scope="module")
def trained(tmp_path_factory, regs):
    """One finished tiny run (evaluated), a checkpoint every episode; cases work on copies."""
    out = tmp_path_factory.mktemp("trained") / "run"
    result = invoke([*TRAIN, "--set", "run.checkpoint_every=1", "--out", str(out)], regs)
    assert result.exit_code == 0, result.output
    assert RunDir(out).is_finished()
    return out


@pytest.fixture(scope="module")
def xdata(tmp_path_factory):
    """Tiny xlsa17 folders: a good one (1 validation class) and one with an empty test_unseen_loc."""
    root = tmp_path_factory.mktemp("xlsa17")
    return {
        "xok": write_tiny_xlsa17(root, "TINY"),
        "xempty": write_tiny_xlsa17(root, "EMPTY", test_unseen_loc=col([])),
    }


# ----------------------------------------------------------------------------------------------
# the table


@dataclass(frozen=True)
class Case:
    """One bad input: ``argv`` with ``{tmp}``, ``{run}`` (a copy of the finished run, damaged by
    ``damage`` first), ``{file}`` (a regular file), ``{ro}`` (an unwritable folder), ``{rodir}``
    (a chmod 555 folder), ``{xok}``, ``{xempty}``; the exit ``code`` and the ``pattern`` the error
    line must match. Every file under ``{tmp}`` must be unchanged (``.lock`` too, unless
    ``lock_written``: a refused resume took the lock, which records its pid), and ``absent``
    paths must not exist afterwards."""

    id: str
    argv: tuple[str, ...]
    code: int
    pattern: str
    damage: Callable[[Path], None] | None = None
    absent: tuple[str, ...] = ()
    lock_written: bool = False


def case(id: str, argv: list[str], code: int, pattern: str, **kw: Any) -> Any:
    c = Case(id, tuple(argv), code, pattern, **kw)
    return pytest.param(c, id=id)


def edit(change: Callable[[dict[str, Any]], Any]) -> Callable[[Path], None]:
    """Damage a run's checkpoint: ``change`` gets its contents and returns the new ones."""

    def damage(run: Path) -> None:
        path = run / "checkpoints" / "last.pt"
        torch.save(change(torch.load(path, weights_only=True)), path)

    return damage


def raw(data: bytes | Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        path = run / "checkpoints" / "last.pt"
        path.write_bytes(data(path.read_bytes()) if callable(data) else data)

    return damage


def without(key: str) -> Callable[[Path], None]:
    return edit(lambda b: {k: v for k, v in b.items() if k != key})


def setting(key: str, value: Any) -> Callable[[Path], None]:
    return edit(lambda b: {**b, key: value})


def in_entry(entry: str, change: Callable[[dict[str, Any]], Any]) -> Callable[[Path], None]:
    return edit(lambda b: {**b, entry: change(dict(b[entry]))})


def first_weight(change: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[Path], None]:
    def model(m: dict[str, Any]) -> dict[str, Any]:
        key = next(k for k, v in m.items() if v.is_floating_point())
        return {**m, key: change(m[key])}

    return in_entry("model", model)


def nan_optimizer_state(b: dict[str, Any]) -> dict[str, Any]:
    state = b["optimizers"]["d"]["state"]
    first = next(iter(state))
    state[first] = {**state[first], "exp_avg": state[first]["exp_avg"] * float("nan")}
    return b


def negative_running_var(m: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (-torch.ones_like(v) if k.startswith("generator") and k.endswith("running_var") else v)
        for k, v in m.items()
    }


class _Opens:
    """Unpickling this calls ``open(path, "w")``: code that must never run."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> Any:
        return (open, (self.path, "w"))


def pickled_code(run: Path) -> None:
    path = run / "checkpoints" / "last.pt"
    body = torch.load(path, weights_only=True)
    torch.save({**body, "extra": _Opens(str(run.parent / "PWNED"))}, path)


def other_recipe(b: dict[str, Any]) -> dict[str, Any]:
    return {**b, "spec": re.sub(r"(?m)^beta1 = .*$", "beta1 = 0.5", b["spec"])}


CKPT = dict(lock_written=True)
DAMAGED = "it is damaged, delete it"

CHECKPOINT_CASES = [
    *(
        case(
            f"checkpoint/no-{key}",
            RESUME,
            1,
            rf"'{{run}}/checkpoints/last\.pt' has no '{key}' entry; {DAMAGED}",
            damage=without(key),
            **CKPT,
        )
        for key in ("spec", "rng", "episode", "model", "optimizers", "data")
    ),
    case(
        "checkpoint/no-format",
        RESUME,
        1,
        r"last\.pt' is not a modgen checkpoint",
        damage=without("format"),
        **CKPT,
    ),
    case(
        "checkpoint/other-version",
        RESUME,
        1,
        r"last\.pt' has version 99; this modgen reads version 2",
        damage=setting("version", 99),
        **CKPT,
    ),
    case(
        "checkpoint/episode-text",
        RESUME,
        1,
        rf"entry 'episode' is a str, expected int; {DAMAGED}",
        damage=setting("episode", "3"),
        **CKPT,
    ),
    case(
        "checkpoint/episode-float",
        RESUME,
        1,
        r"entry 'episode' is a float, expected int",
        damage=setting("episode", 2.5),
        **CKPT,
    ),
    case(
        "checkpoint/episode-negative",
        RESUME,
        1,
        r"entry 'episode' is -1, expected an integer >= 0",
        damage=setting("episode", -1),
        **CKPT,
    ),
    case(
        "checkpoint/episode-bool",
        RESUME,
        1,
        r"entry 'episode' is a bool, expected int",
        damage=setting("episode", True),
        **CKPT,
    ),
    case(
        "checkpoint/model-not-a-table",
        RESUME,
        1,
        r"entry 'model' is a list, expected Mapping",
        damage=setting("model", [1, 2]),
        **CKPT,
    ),
    case(
        "checkpoint/spec-not-text",
        RESUME,
        1,
        r"entry 'spec' is a int, expected str",
        damage=setting("spec", 3),
        **CKPT,
    ),
    *(
        case(
            f"checkpoint/rng-garbage-{name}",
            RESUME,
            1,
            rf"last\.pt': random state '{name}' is damaged \(.*\); delete the checkpoint",
            damage=in_entry("rng", lambda r, n=name: {**r, n: torch.zeros(3, dtype=torch.uint8)}),
            **CKPT,
        )
        for name in ("tasks", "noise", "cpu")
    ),
    case(
        "checkpoint/rng-missing-stream",
        RESUME,
        1,
        r"entry 'rng' has no random state 'noise'",
        damage=in_entry("rng", lambda r: {k: v for k, v in r.items() if k != "noise"}),
        **CKPT,
    ),
    case(
        "checkpoint/rng-not-bytes",
        RESUME,
        1,
        r"random state 'tasks' is not a byte tensor",
        damage=in_entry("rng", lambda r: {**r, "tasks": torch.zeros(3)}),
        **CKPT,
    ),
    case(
        "checkpoint/rng-not-a-tensor",
        RESUME,
        1,
        r"random state 'cpu' is not a byte tensor",
        damage=in_entry("rng", lambda r: {**r, "cpu": "state"}),
        **CKPT,
    ),
    case(
        "checkpoint/spec-garbage",
        RESUME,
        1,
        r"entry 'spec' is not a valid recipe \(.*invalid TOML",
        damage=setting("spec", "not = [toml"),
        **CKPT,
    ),
    case(
        "checkpoint/spec-other-recipe",
        RESUME,
        1,
        r"different recipe configuration \(trainer\.params\.beta1: 0\.5 in the checkpoint",
        damage=edit(other_recipe),
        **CKPT,
    ),
    case(
        "checkpoint/other-data",
        RESUME,
        1,
        r"last\.pt' was trained on \{'dataset': 'other'\}",
        damage=setting("data", {"dataset": "other"}),
        **CKPT,
    ),
    case(
        "checkpoint/weight-missing",
        RESUME,
        1,
        r"does not fit the networks of its recipe: weight '.*' is missing",
        damage=in_entry("model", lambda m: dict(list(m.items())[1:])),
        **CKPT,
    ),
    case(
        "checkpoint/weight-unexpected",
        RESUME,
        1,
        r"weight 'generator\.extra' is not in the networks",
        damage=in_entry("model", lambda m: {**m, "generator.extra": torch.zeros(1)}),
        **CKPT,
    ),
    case(
        "checkpoint/weight-shape",
        RESUME,
        1,
        r"weight generator\..* is \(1,\), the network has \(",
        damage=first_weight(lambda t: torch.zeros(1)),
        **CKPT,
    ),
    case(
        "checkpoint/optimizer-group-missing",
        RESUME,
        1,
        r"'optimizers' has no state for parameter group 'd'",
        damage=in_entry("optimizers", lambda o: {k: v for k, v in o.items() if k != "d"}),
        **CKPT,
    ),
    case(
        "checkpoint/optimizer-state-garbage",
        RESUME,
        1,
        r"optimiser state of parameter group 'd' does not fit",
        damage=in_entry("optimizers", lambda o: {**o, "d": {"state": {}, "param_groups": []}}),
        **CKPT,
    ),
    case(
        "checkpoint/text-file",
        RESUME,
        1,
        r"last\.pt' is corrupt or not a PyTorch file",
        damage=raw(b"not a checkpoint at all"),
        **CKPT,
    ),
    case(
        "checkpoint/empty-file",
        RESUME,
        1,
        r"last\.pt' is corrupt or not a PyTorch file",
        damage=raw(b""),
        **CKPT,
    ),
    case(
        "checkpoint/truncated",
        RESUME,
        1,
        r"last\.pt' is corrupt or not a PyTorch file",
        damage=raw(lambda b: b[: len(b) // 2]),
        **CKPT,
    ),
    case(
        "checkpoint/a-list",
        RESUME,
        1,
        r"last\.pt' is not a modgen checkpoint",
        damage=edit(lambda b: [1, 2]),
        **CKPT,
    ),
    case(
        "checkpoint/numpy-file",
        RESUME,
        1,
        r"last\.pt' is corrupt or not a PyTorch file",
        damage=raw(b"\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }"),
        **CKPT,
    ),
    case(
        "checkpoint/pickled-code",
        RESUME,
        1,
        r"holds pickled objects other than tensors and plain values; it was not loaded \(code in a checkpoint "
        r"is never run\)",
        damage=pickled_code,
        absent=("{tmp}/PWNED",),
        **CKPT,
    ),
    case(
        "checkpoint/pickled-code-synthesize",
        ["synthesize", "{run}", "--out", "{tmp}/s.npz"],
        1,
        r"holds pickled objects other than tensors",
        damage=pickled_code,
        absent=("{tmp}/PWNED", "{tmp}/s.npz"),
    ),
    case(
        "checkpoint/pickled-code-evaluate",
        ["evaluate", "{run}"],
        1,
        r"holds pickled objects other than tensors",
        damage=pickled_code,
        absent=("{tmp}/PWNED",),
    ),
    case(
        "checkpoint/missing-file",
        RESUME,
        1,
        r"--resume '.*run': the run finished training but its checkpoint '.*last\.pt' is missing",
        damage=lambda run: (run / "checkpoints" / "last.pt").unlink(),
    ),
    case(
        "checkpoint/missing-evaluate",
        ["evaluate", "{run}"],
        1,
        r"Checkpoint '.*last\.pt' does not exist",
        damage=lambda run: (run / "checkpoints" / "last.pt").unlink(),
    ),
    case(
        "checkpoint/text-retrieve",
        ["retrieve", "{run}"],
        1,
        r"last\.pt' is corrupt or not a PyTorch file",
        damage=raw(b"hello"),
    ),
]

NUMERIC_CASES = [
    *(
        case(
            f"numeric/{key}={value}",
            [*TRAIN, "--set", f"{key}={value}", *NEW],
            2,
            rf"{re.escape(key)}: {value} is not a finite number",
            absent=("{tmp}/new",),
        )
        for key, value in (
            ("trainer.sigma_train", "inf"),
            ("trainer.sigma_train", "nan"),
            ("trainer.sigma_train", "-inf"),
            ("evaluation.sigma_test", "nan"),
            ("evaluation.sigma_test", "inf"),
            ("trainer.beta1", "nan"),
            ("trainer.gp_lambda", "inf"),
            ("generator.dropout", "nan"),
        )
    ),
    case(
        "numeric/adam-betas-nan",
        [*TRAIN, "--set", "trainer.adam_betas=[0.5, nan]", *NEW],
        2,
        r"trainer\.adam_betas\[1\]: nan is not a finite number",
        absent=("{tmp}/new",),
    ),
    case(
        "numeric/evaluate-sigma-test-nan",
        ["evaluate", "{run}", "--set", "evaluation.sigma_test=nan"],
        2,
        r"evaluation\.sigma_test: nan is not a finite number",
    ),
    case(
        "numeric/synthesize-sigma-inf",
        ["synthesize", "{run}", "--sigma", "inf"],
        2,
        r"--sigma inf: expected a finite number >= 0",
    ),
    case(
        "numeric/synthesize-sigma-nan",
        ["synthesize", "{run}", "--sigma", "nan"],
        2,
        r"Invalid value for '--sigma'",
    ),
    case(
        "numeric/resume-nan-weights",
        RESUME,
        1,
        r"weight '.*' is not finite \(NaN or inf\); the run had diverged .*learning rates, trainer\.sigma_train "
        r"and the components' outputs",
        damage=first_weight(lambda t: t * float("nan")),
        **CKPT,
    ),
    case(
        "numeric/resume-inf-weights",
        RESUME,
        1,
        r"weight '.*' is not finite",
        damage=first_weight(lambda t: t + float("inf")),
        **CKPT,
    ),
    case(
        "numeric/resume-nan-optimizer-state",
        RESUME,
        1,
        r"optimiser state 'optimizers\.d\.state\.\d+\.exp_avg' is not finite",
        damage=edit(nan_optimizer_state),
        **CKPT,
    ),
    *(
        case(
            f"numeric/{cmd}-diverged-run",
            [cmd, "{run}"],
            1,
            r"weight '.*' is not finite \(NaN or inf\)",
            damage=first_weight(lambda t: t * float("nan")),
        )
        for cmd in ("synthesize", "evaluate", "retrieve")
    ),
    case(
        "numeric/synthesize-nan-output",
        ["synthesize", "{run}", "--out", "{tmp}/s.npz"],
        1,
        r"'.*run': the generator produced NaN or infinite features",
        damage=in_entry("model", negative_running_var),
        absent=("{tmp}/s.npz",),
    ),
]

LATE_CASES = [
    case(f"late/{name}", [*TRAIN, *argv, *NEW], code, pattern, absent=("{tmp}/new",))
    for name, argv, code, pattern in (
        (
            "unknown-classifier",
            ["--set", 'evaluation.classifiers=["nope"]'],
            2,
            r"Can't find 'nope' in registry 'final_classifier'\. Available names: .*svm",
        ),
        (
            "unknown-classifier-param",
            ["--set", "evaluation.classifier_params.svm.bogus=1"],
            2,
            r"evaluation\.classifier_params\.svm\.bogus: 'svm' has no parameter 'bogus'",
        ),
        (
            "classifier-param-of-absent-classifier",
            ["--set", "evaluation.classifier_params.softmax.lr=0.1"],
            2,
            r"evaluation\.classifier_params\.softmax: 'softmax' is not in evaluation\.classifiers",
        ),
        (
            "classifier-param-value",
            ["--set", "evaluation.classifier_params.svm.C=-1"],
            2,
            r"evaluation\.classifier_params\.svm: .*C: expected a number > 0, got -1",
        ),
        (
            "classifier-param-type",
            ["--set", 'evaluation.classifier_params.svm.C="x"'],
            2,
            r"evaluation\.classifier_params\.svm: .*C: expected a number > 0, got 'x'",
        ),
        (
            "classifier-grid-value",
            [
                "--set",
                "evaluation.classifier_params.svm.grid.C=[1.0, -2.0]",
                "--set",
                "evaluation.selection=test",
            ],
            2,
            r"evaluation\.classifier_params\.svm: .*C: expected a number > 0, got -2",
        ),
        (
            "classifier-grid-empty",
            ["--set", "evaluation.classifier_params.svm.grid.C=[]"],
            2,
            r"evaluation\.classifier_params\.svm\.grid\.C: expected a non-empty list of values",
        ),
        (
            "softmax-epochs",
            [
                "--set",
                'evaluation.classifiers=["softmax"]',
                "--set",
                "evaluation.classifier_params.softmax.epochs=0",
            ],
            2,
            r"evaluation\.classifier_params\.softmax: .*epochs: expected an integer >= 1, got 0",
        ),
        (
            "unquoted-list",
            ["--set", "evaluation.classifiers=[svm]"],
            2,
            r"'\[svm\]' is not a valid value; .*e\.g\. evaluation\.classifiers=\[\"svm\"\]",
        ),
        (
            "unquoted-list-2",
            ["--set", "evaluation.classifiers=[svm, softmax]"],
            2,
            r"e\.g\. evaluation\.classifiers=\[\"svm\", \"softmax\"\]",
        ),
        ("unterminated-list", ["--set", "generator.hidden=[16, 8"], 2, r"--set 'generator\.hidden=\[16, 8'"),
        (
            "retrieval-k-too-large",
            ["--set", "evaluation.retrieval_k=[100000]"],
            2,
            r"evaluation\.retrieval_k: 100000 is more than the \d+ test_unseen samples of 'digits'",
        ),
        (
            "retrieval-k-zero",
            ["--set", "evaluation.retrieval_k=[0]"],
            2,
            r"evaluation\.retrieval_k: expected integers >= 1",
        ),
        ("empty-test-unseen", ["--data", "{xempty}"], 1, r"att_splits\.mat': key 'test_unseen_loc' is empty"),
        (
            "too-few-val-classes",
            ["--data", "{xok}", "--set", "evaluation.selection=val"],
            1,
            r"evaluation\.selection='val' needs at least 2 validation classes, the data has 1",
        ),
        ("n-way-too-large", ["--set", "task_sampler.n_way=50"], 1, r"Lower task_sampler\.n_way to at most 3"),
        (
            "k-support-too-large",
            ["--set", "task_sampler.k_support=500"],
            1,
            r"fewer than max\(k_support, k_query\) = 500.*task_sampler\.k_support/k_query",
        ),
        ("negative-width", ["--set", "generator.hidden=-5"], 2, r"generator 'mlp': .*hidden.*-5"),
        ("width-text", ["--set", 'generator.hidden="x"'], 2, r"generator 'mlp': .*hidden.*'x'"),
        (
            "zero-episodes",
            ["--set", "trainer.episodes=0"],
            2,
            r"trainer\.episodes: expected an integer >= 1, got 0",
        ),
        (
            "zero-eval-seeds",
            ["--set", "evaluation.seeds=0"],
            2,
            r"evaluation\.seeds: expected an integer >= 1",
        ),
        (
            "zero-samples",
            ["--set", "evaluation.zsl_samples=0"],
            2,
            r"evaluation\.zsl_samples: expected an integer",
        ),
        (
            "bad-selection",
            ["--set", "evaluation.selection=later"],
            2,
            r"evaluation\.selection: expected one of val, none, test, got 'later'",
        ),
        ("bad-semantics", ["--set", "data.semantics=words"], 2, r"data\.semantics: expected one of att"),
        ("bad-device", ["--device", "gpu"], 2, r"--device: expected auto, cpu, cuda or cuda:N, got 'gpu'"),
        (
            "unknown-component",
            ["--set", "modulator.name=film"],
            2,
            r"Can't find 'film' in registry 'modulator'",
        ),
        ("unknown-data-set", ["--dataset", "mnist"], 2, r"--dataset 'mnist': unknown data set"),
        ("no-such-data-folder", ["--data", "{tmp}/nowhere"], 1, r"--data '.*nowhere': no res101\.mat there"),
    )
]
if not torch.cuda.is_available():
    LATE_CASES.append(
        case(
            "late/cuda-without-cuda",
            [*TRAIN, "--device", "cuda", *NEW],
            2,
            r"run\.device is 'cuda' but no CUDA device is available",
            absent=("{tmp}/new",),
        )
    )

SILENT_CASES = [
    case(
        "silent/seeds-0",
        [*TRAIN, "--seeds", "0", *NEW],
        2,
        r"Invalid value for '--seeds'",
        absent=("{tmp}/new",),
    ),
    case(
        "silent/seeds-negative",
        [*TRAIN, "--seeds", "-1", *NEW],
        2,
        r"Invalid value for '--seeds'",
        absent=("{tmp}/new",),
    ),
    *(
        case(
            f"silent/resume-with{flag}-{extra[-1]}",
            ["train", "--resume", "{run}", *extra],
            2,
            rf"--resume continues a run with its own settings; {flag} cannot change them",
        )
        for flag, extra in (
            ("--recipe", ["--recipe", "zsml"]),
            (
                "--recipe",
                ["--recipe", "amaz"],
            ),  # the default name, given explicitly, is still a change of recipe
            ("--config", ["--config", "{run}/config.toml"]),
            ("--dataset", ["--dataset", "digits"]),
            ("--data", ["--data", "{xok}"]),
            ("--name", ["--name", "x"]),
            ("--preset", ["--preset", "tiny"]),
            ("--seed", ["--seed", "3"]),
            ("--set", ["--set", "run.seed=3"]),
            ("--out", ["--out", "{tmp}/elsewhere"]),
            ("--overwrite", ["--overwrite"]),
            ("--seeds", ["--seeds", "2"]),
        )
    ),
    case(
        "silent/resume-fewer-episodes",
        ["train", "--resume", "{run}", "--episodes", "1"],
        1,
        r"last\.pt' is at episode 2, past the 1 episodes asked for; ask for at least 2 \(--episodes\)",
        **CKPT,
    ),
    case(
        "silent/resume-not-a-run",
        ["train", "--resume", "{tmp}"],
        2,
        r"--resume '.*': not a run folder \(no config\.toml\)",
    ),
    case(
        "silent/resume-a-file",
        ["train", "--resume", "{run}/config.toml"],
        2,
        r"--resume '.*config\.toml': not a run folder",
    ),
    *(
        case(f"silent/key-{key}", [*TRAIN, "--set", f"{key}=1", *NEW], 2, pattern, absent=("{tmp}/new",))
        for key, pattern in (
            (
                "trainer.options.bogus",
                r"trainer 'meta': unknown parameter 'options' \(trainer\.options\).*It moved to "
                r"'trainer\.<param>'",
            ),
            ("trainer.bogus", r"trainer 'meta': unknown parameter 'bogus' \(trainer\.bogus\)"),
            ("trainer.seed", r"trainer\.seed.*moved to 'run\.seed'"),
            ("generator.bogus", r"generator\.bogus: 'mlp' has no parameter 'bogus'"),
            ("run.bogus", r"Unknown key 'run\.bogus'\. Valid keys of 'run': seed"),
            ("evaluation.bogus", r"Unknown key 'evaluation\.bogus'"),
            ("data.options.bogus", r"data\.options\.bogus: 'digits' has no parameter 'bogus'"),
            ("bogus", r"Unknown key 'bogus'\. Valid keys: name"),
        )
    ),
    *(
        case(
            f"silent/evaluate-set-{key}",
            ["evaluate", "{run}", "--set", f"{key}={value}"],
            2,
            rf"modgen evaluate changes only evaluation\.\* settings; '{re.escape(key)}' was fixed",
        )
        for key, value in (
            ("trainer.episodes", 5),
            ("generator.hidden", 8),
            ("run.seed", 3),
            ("data.semantics", "att"),
        )
    ),
    case(
        "silent/evaluate-set-unknown",
        ["evaluate", "{run}", "--set", "evaluation.bogus=1"],
        2,
        r"Unknown key 'evaluation\.bogus'",
    ),
]

DISK_CASES = [
    case(
        "disk/out-is-a-file",
        [*TRAIN, "--out", "{file}"],
        1,
        r"cannot use as the run folder '.*file\.txt': it already exists as a file; choose another path",
    ),
    case(
        "disk/out-under-a-file",
        [*TRAIN, "--out", "{file}/run"],
        1,
        r"cannot use as the run folder '.*file\.txt/run': '.*file\.txt' is a file, not a folder",
    ),
    case(
        "disk/out-deep-under-a-file",
        [*TRAIN, "--out", "{file}/a/b"],
        1,
        r"'.*file\.txt' is a file, not a folder",
    ),
    case(
        "disk/out-unwritable",
        [*TRAIN, "--out", "{ro}/modgen-run"],
        1,
        rf"cannot .*'/sys/modgen-run.*{RO_REASON}",
    ),
    case("disk/out-chmod", [*TRAIN, "--out", "{rodir}/run"], 1, rf"'.*ro/run': {RO_REASON}"),
    case(
        "disk/seeds-out-under-a-file",
        [*TRAIN, "--seeds", "2", "--out", "{file}/runs"],
        1,
        r"'.*file\.txt' is a file, not a folder",
    ),
    case(
        "disk/synthesize-out-under-a-file",
        ["synthesize", "{run}", "--out", "{file}/x.npz"],
        1,
        r"cannot write '.*file\.txt/x\.npz': '.*file\.txt' is a file, not a folder",
    ),
    case(
        "disk/synthesize-out-unwritable",
        ["synthesize", "{run}", "--out", "{ro}/x.npz"],
        1,
        rf"cannot write '/sys/x\.npz': {RO_REASON}",
    ),
    case(
        "disk/synthesize-out-chmod",
        ["synthesize", "{run}", "--out", "{rodir}/x.npz"],
        1,
        rf"'.*ro/x\.npz': {RO_REASON}",
    ),
    case(
        "disk/synthesize-out-is-a-folder",
        ["synthesize", "{run}", "--out", "{run}/plots.npz"],
        1,
        r"cannot write '.*plots\.npz': it is a folder, not a file",
        damage=lambda run: (run / "plots.npz").mkdir(),
    ),
    case(
        "disk/synthesize-out-not-npz",
        ["synthesize", "{run}", "--out", "{tmp}/x.txt"],
        2,
        r"--out '.*x\.txt': expected a file name ending in \.npz",
        absent=("{tmp}/x.txt",),
    ),
    case(
        "disk/evaluate-out-under-a-file",
        ["evaluate", "{run}", "--out", "{file}/ev"],
        1,
        r"cannot write the evaluation into '.*file\.txt/ev': '.*file\.txt' is a file",
    ),
    case(
        "disk/semisynthetic-out-under-a-file",
        ["data", "make-semisynthetic", "{xok}/att_splits.mat", "{file}/out"],
        1,
        r"'.*file\.txt/out': '.*file\.txt' is a file, not a folder",
    ),
    case(
        "disk/semisynthetic-out-is-a-file",
        ["data", "make-semisynthetic", "{xok}/att_splits.mat", "{file}"],
        1,
        r"'.*file\.txt': it already exists as a file",
    ),
    case(
        "disk/semisynthetic-out-unwritable",
        ["data", "make-semisynthetic", "{xok}/att_splits.mat", "{ro}/x/out"],
        1,
        rf"'/sys/x.*{RO_REASON}",
    ),
    case(
        "disk/semisynthetic-out-chmod",
        ["data", "make-semisynthetic", "{xok}/att_splits.mat", "{rodir}/out"],
        1,
        rf"'.*ro.*{RO_REASON}",
    ),
    case(
        "disk/semisynthetic-missing-input",
        ["data", "make-semisynthetic", "{tmp}/nope.mat", "{tmp}/out"],
        1,
        r"'.*nope\.mat': file not found",
        absent=("{tmp}/out",),
    ),
    case(
        "disk/plugin-dest-a-file",
        ["plugin", "new", "good", "--dest", "{file}"],
        1,
        r"cannot use '.*file\.txt/good': '.*file\.txt' is a file, not a folder",
    ),
    case(
        "disk/plugin-dest-under-a-file",
        ["plugin", "new", "good", "--dest", "{file}/sub"],
        1,
        r"'.*file\.txt' is a file, not a folder",
    ),
    case(
        "disk/plugin-dest-unwritable",
        ["plugin", "new", "good", "--dest", "{ro}"],
        1,
        rf"cannot use '/sys/good': {RO_REASON}",
    ),
    case(
        "disk/plugin-dest-chmod",
        ["plugin", "new", "good", "--dest", "{rodir}"],
        1,
        rf"'.*ro/good': {RO_REASON}",
    ),
    case(
        "disk/metrics-damaged-mid-file",
        ["train", "--resume", "{run}", "--episodes", "3", "--no-eval"],
        1,
        r"metrics\.jsonl:1: not valid JSON .*; delete that line",
        damage=lambda run: _replace_line(run / "metrics.jsonl", 0, '{"episode": 2, "loss/d": 0.'),
        **CKPT,
    ),
]

DATA_LOST_CASES = [
    case(
        "lost/rerun-finished",
        [*TRAIN, "--out", "{run}"],
        2,
        r"run folder '.*run' already holds a finished run; add --resume to continue it, --overwrite to replace it",
    ),
    case(
        "lost/rerun-finished-other-recipe",
        ["train", "--recipe", "zsml", *TINY, *FAST, "--out", "{run}"],
        2,
        r"'.*run' already holds a finished run",
    ),
    case(
        "lost/rerun-finished-no-eval",
        [*TRAIN, "--no-eval", "--out", "{run}"],
        2,
        r"'.*run' already holds a finished run",
    ),
    case(
        "lost/rerun-finished-seeds",
        [*TRAIN, "--seeds", "2", "--out", "{run}"],
        2,
        r"run folder '.*run' already holds results; add --resume, --overwrite or choose another --out",
    ),
    case(
        "lost/rerun-unfinished",
        [*TRAIN, "--out", "{run}"],
        2,
        r"'.*run' already holds an unfinished run",
        damage=lambda run: (run / "results.json").unlink(),
    ),
    case(
        "lost/folder-with-user-files",
        [*TRAIN, "--out", "{tmp}/mine"],
        2,
        r"--out '.*mine' is a folder with other files in it \(not a modgen run\)",
        damage=lambda run: _user_folder(run.parent / "mine"),
    ),
    case(
        "lost/folder-with-user-files-overwrite",
        [*TRAIN, "--overwrite", "--out", "{tmp}/mine"],
        2,
        r"--out '.*mine' is a folder with other files in it",
        damage=lambda run: _user_folder(run.parent / "mine"),
    ),
    case(
        "lost/resume-a-folder-inside-a-run",
        ["train", "--resume", "{run}/evaluations"],
        2,
        r"not a run folder",
        damage=lambda run: (run / "evaluations").mkdir(),
    ),
]

PRINT_CASES = [
    case(
        "print/recipe-close-tag",
        ["train", "--recipe", "[/x]", *NEW],
        2,
        r"Can't find '\[/x\]' in registry 'recipe'",
    ),
    case(
        "print/recipe-bold", ["train", "--recipe", "[bold]x", *NEW], 2, r"Can't find '\[bold\]x' in registry"
    ),
    case("print/set-key", ["train", "--set", "[/x]=1", *NEW], 2, r"Unknown key '\[/x\]'"),
    case(
        "print/set-param",
        ["train", "--set", "generator.[bold]x=1", *NEW],
        2,
        r"generator\.\[bold\]x: 'mlp' has no parameter '\[bold\]x'",
    ),
    case(
        "print/set-value",
        ["train", "--set", 'run.device="[/x]"', *NEW],
        2,
        r"run\.device: expected auto, cpu, cuda or cuda:N, got '\[/x\]'",
    ),
    case(
        "print/set-value-unquoted",
        ["train", "--set", "run.device=[/x]", *NEW],
        2,
        r"--set 'run\.device=\[/x\]': '\[/x\]' is not a valid value; .*run\.device=\[\"/x\"\]",
    ),
    case("print/list-kind", ["list", "[/x]"], 2, r"Unknown component kind '\[/x\]'"),
    case(
        "print/data-info-target",
        ["data", "info", "[bold]x"],
        2,
        r"'\[bold\]x' is neither a registered data set",
    ),
    case(
        "print/classes", ["synthesize", "{run}", "--classes", "[bold]x,[/x]"], 1, r"unknown class '\[bold\]x'"
    ),
    case(
        "print/plugin-name", ["plugin", "new", "[/x]", "--dest", "{tmp}"], 2, r"Invalid plugin name '\[/x\]'"
    ),
    case(
        "print/out-path",
        [*TRAIN, "--out", "{file}/[bold]x"],
        1,
        r"'.*file\.txt/\[bold\]x': '.*file\.txt' is a file",
    ),
    case(
        "print/seed-huge",
        [*TRAIN, "--seed", "99999999999999999999999", *NEW],
        2,
        r"Invalid value for '--seed'",
        absent=("{tmp}/new",),
    ),
    case(
        "print/seed-huge-set",
        [*TRAIN, "--set", "run.seed=99999999999999999999999", *NEW],
        2,
        r"run\.seed: expected an integer below 2\*\*63, got 99999999999999999999999",
        absent=("{tmp}/new",),
    ),
    case(
        "print/synthesize-seed-huge",
        ["synthesize", "{run}", "--seed", "99999999999999999999999"],
        2,
        r"Invalid value for '--seed'",
    ),
    case(
        "print/semantics",
        ["data", "info", "digits", "--semantics", "nope"],
        2,
        r"semantics: expected one of att, original_att, sent, got 'nope'",
    ),
    case(
        "print/data-option",
        ["data", "info", "digits", "--option", "[bold]x=1"],
        2,
        r"data\.options\.\[bold\]x: the 'digits' loader does not take option '\[bold\]x'",
    ),
]


def _replace_line(path: Path, index: int, text: str) -> None:
    lines = path.read_text().splitlines()
    lines[index] = text
    path.write_text("\n".join(lines) + "\n")


def _user_folder(folder: Path) -> None:
    folder.mkdir()
    (folder / "thesis.tex").write_text("my work\n")
    (folder / "config.toml").write_text("# not a modgen config\n")


ALL_CASES = [
    *DATA_LOST_CASES,
    *DISK_CASES,
    *NUMERIC_CASES,
    *LATE_CASES,
    *SILENT_CASES,
    *CHECKPOINT_CASES,
    *PRINT_CASES,
]


@pytest.mark.parametrize("c", ALL_CASES)
def test_bad_input(c: Case, trained, xdata, regs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a stray default folder (runs/...) would show up in the snapshot
    places = {"tmp": str(tmp_path), **{k: str(v) for k, v in xdata.items()}}
    text = " ".join(c.argv)
    if "{run}" in text or c.damage is not None:
        shutil.copytree(trained, tmp_path / "run")
        places["run"] = str(tmp_path / "run")
    if "{file}" in text:
        (tmp_path / "file.txt").write_text("a file in the way\n")
        places["file"] = str(tmp_path / "file.txt")
    if "{ro}" in text:
        ro = unwritable_root()
        if ro is None:
            pytest.skip("no folder here refuses writes to this process (/sys is writable)")
        places["ro"] = str(ro)
    if "{rodir}" in text:
        if AS_ROOT:
            pytest.skip("running as root: chmod does not stop root from writing; the {ro} cases cover this")
        (tmp_path / "ro").mkdir(mode=0o555)
        places["rodir"] = str(tmp_path / "ro")
    if c.damage is not None:
        c.damage(tmp_path / "run")
    before = snapshot(tmp_path, (".lock",) if c.lock_written else ())

    result = invoke([a.format(**places) for a in c.argv], regs)

    error_line(result, c.code, c.pattern.replace("{run}", re.escape(places.get("run", ""))))
    assert snapshot(tmp_path, (".lock",) if c.lock_written else ()) == before, "a file was changed or lost"
    for path in c.absent:
        assert not Path(path.format(**places)).exists(), path


def test_the_table_is_large_enough():
    assert len(ALL_CASES) >= 100
    assert len({c.values[0].id for c in ALL_CASES}) == len(ALL_CASES)


# ----------------------------------------------------------------------------------------------
# what a bad input must not break: outputs into missing folders, printing as written


def test_synthesize_into_a_missing_folder_creates_it(trained, regs, tmp_path):
    target = tmp_path / "missing" / "deeper" / "x.npz"
    result = invoke(["synthesize", str(trained), "--n", "3", "--out", str(target)], regs)
    assert result.exit_code == 0, result.output
    assert target.is_file() and str(target) in result.output


@pytest.mark.parametrize("name", ["[bold]x", "[/x]", "a [red]b[/red] c"])
def test_markup_in_names_is_printed_as_written(name, xdata, regs):
    result = invoke(["data", "info", str(xdata["xok"]), "--dataset", name], regs)
    assert result.exit_code == 0, result.output
    assert f"Data set {name}" in result.output


def test_markup_in_a_data_set_name_survives_a_whole_run(xdata, regs, tmp_path):
    name = "[bold]x [/x]"
    result = invoke([*TRAIN, "--data", str(xdata["xok"]), "--name", name, "--out", str(tmp_path / "r")], regs)
    assert result.exit_code == 0, result.output
    assert f"data={name}" in result.output and f"amaz on {name} (%" in result.output


def test_name_of_an_embedded_data_set(regs, tmp_path):
    result = invoke([*TRAIN, "--no-eval", "--name", "[bold]x", "--out", str(tmp_path / "r")], regs)
    assert result.exit_code == 0, result.output


def test_a_data_set_name_with_a_slash_makes_one_default_folder(xdata, regs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke([*TRAIN, "--no-eval", "--data", str(xdata["xok"]), "--name", "a/b"], regs)
    assert result.exit_code == 0, result.output
    (group,) = (tmp_path / "runs").iterdir()
    assert group.name.startswith("amaz-a_b-") and (group / "seed0" / "config.toml").is_file()


# ----------------------------------------------------------------------------------------------
# disk and permissions: full disks, file size limits, torn lines, stale temporaries


def _run_no_eval(tmp_path: Path, *extra: str) -> list[str]:
    return [
        "train",
        *TINY,
        "--episodes",
        "3",
        "--no-eval",
        "--set",
        "run.checkpoint_every=1",
        "--set",
        "run.log_every=1",
        "--out",
        str(tmp_path / "run"),
        *extra,
    ]


def test_full_disk_during_a_metrics_write(regs, tmp_path, monkeypatch):
    real_write = os.write

    def write(fd: int, data: Any) -> int:
        if b'"episode": 2,' in bytes(data):  # half a line reaches the disk, then it is full
            real_write(fd, bytes(data)[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    result = invoke(_run_no_eval(tmp_path), regs)
    error_line(
        result,
        1,
        r"cannot write '.*run/metrics\.jsonl': no space left on the device; free some space and "
        r"resume the run \(--resume\)",
    )
    monkeypatch.setattr(os, "write", real_write)
    metrics = (tmp_path / "run" / "metrics.jsonl").read_text()
    assert metrics.endswith("\n") and [json.loads(line)["episode"] for line in metrics.splitlines()] == [1]
    resumed = invoke(["train", "--resume", str(tmp_path / "run"), "--episodes", "3", "--no-eval"], regs)
    assert resumed.exit_code == 0, resumed.output
    assert train_episodes(tmp_path / "run") == [1, 2, 3]


@pytest.mark.parametrize(
    ("failure", "pattern"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), r"no space left on the device; free some space"),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), r"disk quota exceeded"),
        (
            RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed"),
            r"torch could not write it \(PytorchStreamWriter failed",
        ),
    ],
    ids=["enospc", "quota", "torch-runtime-error"],
)
def test_full_disk_during_a_checkpoint(failure, pattern, regs, tmp_path, monkeypatch):
    import modgen.train.checkpoint as checkpoint

    real_save, calls = torch.save, []

    def save(obj: Any, path: Any, *args: Any, **kwargs: Any) -> None:
        calls.append(path)
        if len(calls) == 2:  # the second checkpoint: a partial temporary file, then the error
            Path(path).write_bytes(b"partial")
            raise failure
        real_save(obj, path, *args, **kwargs)

    monkeypatch.setattr(checkpoint.torch, "save", save)
    result = invoke(_run_no_eval(tmp_path), regs)
    error_line(result, 1, rf"cannot write the checkpoint '.*run/checkpoints/last\.pt': {pattern}")
    monkeypatch.setattr(checkpoint.torch, "save", real_save)
    folder = tmp_path / "run" / "checkpoints"
    assert sorted(p.name for p in folder.iterdir()) == ["last.pt"]  # no .last.pt.*.tmp left
    assert load_checkpoint(folder / "last.pt")["episode"] == 1  # the previous checkpoint is intact
    resumed = invoke(["train", "--resume", str(tmp_path / "run"), "--episodes", "3", "--no-eval"], regs)
    assert resumed.exit_code == 0, resumed.output
    assert train_episodes(tmp_path / "run") == [1, 2, 3]


def test_file_size_limit_during_a_checkpoint(regs, tmp_path):
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    limit = 100_000  # a tiny checkpoint is ~240 kB; metrics, config and provenance are far below
    if hard != resource.RLIM_INFINITY and hard < limit:
        pytest.skip("the hard file size limit is already below the test's")
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        result = invoke(_run_no_eval(tmp_path), regs)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    error_line(
        result,
        1,
        r"cannot write the checkpoint '.*last\.pt': file too large for this file system or the "
        r"process's file size limit \(ulimit -f\)",
    )
    assert list((tmp_path / "run" / "checkpoints").iterdir()) == []


def test_torn_metrics_line_never_breaks_resume(trained, regs, tmp_path):
    run = Path(shutil.copytree(trained, tmp_path / "run"))
    with open(run / "metrics.jsonl", "a") as fh:
        fh.write('{"episode": 3, "loss/d": 0.12')  # a write cut short by a kill or a full disk
    result = invoke(["train", "--resume", str(run), "--episodes", "3", "--no-eval"], regs)
    assert result.exit_code == 0, result.output
    assert train_episodes(run) == [2, 3]  # the trained run logs at its last episode (2)
    assert all(json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines())


def test_stale_temporaries_of_killed_writes_are_removed_on_the_next_start(trained, regs, tmp_path):
    run = Path(shutil.copytree(trained, tmp_path / "run"))
    stale = [run / "checkpoints" / ".last.pt.k1ll3d.tmp", run / ".summary.json.x7.tmp"]
    for path in stale:
        path.write_bytes(b"half a file")
    result = invoke(["train", "--resume", str(run), "--episodes", "3", "--no-eval"], regs)
    assert result.exit_code == 0, result.output
    assert not any(p.exists() for p in stale)
    assert load_checkpoint(run / "checkpoints" / "last.pt")["episode"] == 3


@pytest.mark.parametrize("how", ["chmod", "simulated"])
def test_resume_into_an_unwritable_run(how, trained, regs, tmp_path, monkeypatch):
    run = Path(shutil.copytree(trained, tmp_path / "run"))
    if how == "chmod":
        if AS_ROOT:
            pytest.skip("running as root: chmod does not stop root from writing (see the 'simulated' case)")
        for folder in (run, run / "checkpoints"):
            folder.chmod(0o555)
    else:  # what the kernel answers a user without write permission
        real_access = os.access
        monkeypatch.setattr(
            os,
            "access",
            lambda p, mode, **kw: not (Path(p) == run and mode & os.W_OK) and real_access(p, mode, **kw),
        )
    before = snapshot(tmp_path)
    try:
        result = invoke(["train", "--resume", str(run), "--episodes", "3"], regs)
    finally:
        for folder in (run, run / "checkpoints"):
            folder.chmod(0o755)
    error_line(
        result,
        1,
        rf"cannot use as the run folder '{re.escape(str(run))}': permission denied; choose a "
        r"folder you can write to",
    )
    assert snapshot(tmp_path) == before


# ----------------------------------------------------------------------------------------------
# numerical faults during training: the guard names the first non-finite loss or tensor


def _poison(what: str) -> Callable[[Any, Any], Any]:
    from modgen.train.meta import MetaTrainer

    real_step = MetaTrainer.step
    count = {"n": 0}

    def step(self: Any, streams: Any) -> Any:
        parts = real_step(self, streams)
        count["n"] += 1
        if count["n"] == 2:
            if what == "loss":
                parts = {**parts, "loss/ad": parts["loss/ad"] * float("nan")}
            elif what == "parameter":
                with torch.no_grad():
                    next(self.assembly.generator.parameters()).fill_(float("inf"))
            else:
                state = next(iter(self.optimizers["gc"].state.values()))
                state["exp_avg_sq"].fill_(float("nan"))
        return parts

    return step


@pytest.mark.parametrize(
    ("what", "pattern"),
    [
        ("loss", r"loss 'loss/ad' \(= nan\) became non-finite by episode 2"),
        ("parameter", r"tensor 'generator\..*' became non-finite by episode 2"),
        ("optimizer", r"tensor 'optimizer gc state \d+ exp_avg_sq' became non-finite by episode 2"),
    ],
)
def test_divergence_stops_the_run_naming_the_culprit(what, pattern, regs, tmp_path, monkeypatch):
    from modgen.train.meta import MetaTrainer

    monkeypatch.setattr(MetaTrainer, "step", _poison(what))
    result = invoke(_run_no_eval(tmp_path), regs)
    line = error_line(
        result,
        1,
        pattern + r" of run '.*run'; the last good checkpoint '.*last\.pt' \(episode 1\) "
        r"is kept",
    )
    assert "learning rates" in line and "sigma_train" in line and "a component producing NaN" in line
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["episode"] == 1  # finite, loadable
    state = json.loads((tmp_path / "run" / "provenance.json").read_text())
    assert state["state"] == "failed" and "TrainingDivergedError" in state["error"]


# ----------------------------------------------------------------------------------------------
# Ctrl-C: one line with the resume command; the resumed run is bit-identical


def test_ctrl_c_saves_and_the_resumed_run_is_bit_identical(regs, tmp_path, monkeypatch):
    from modgen.train.meta import MetaTrainer

    straight = invoke(["train", *TINY, "--episodes", "4", "--no-eval", "--out", str(tmp_path / "a")], regs)
    assert straight.exit_code == 0, straight.output
    real_step, count = MetaTrainer.step, {"n": 0}

    def step(self: Any, streams: Any) -> Any:
        count["n"] += 1
        if count["n"] == 2:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C in the middle of episode 2
        return real_step(self, streams)

    monkeypatch.setattr(MetaTrainer, "step", step)
    out = tmp_path / "b"
    result = invoke(["train", *TINY, "--episodes", "4", "--no-eval", "--out", str(out)], regs)
    assert result.exit_code == 130, result.output
    lines = [line for line in result.output.splitlines() if "interrupted" in line]
    assert lines == [f"interrupted; the last checkpoint is kept, resume with: modgen train --resume {out}"]
    assert "Traceback" not in result.output
    assert load_checkpoint(out / "checkpoints" / "last.pt")["episode"] == 2
    monkeypatch.setattr(MetaTrainer, "step", real_step)
    resumed = invoke(["train", "--resume", str(out), "--episodes", "4", "--no-eval"], regs)
    assert resumed.exit_code == 0, resumed.output
    a = load_checkpoint(tmp_path / "a" / "checkpoints" / "last.pt")["model"]
    b = load_checkpoint(out / "checkpoints" / "last.pt")["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ----------------------------------------------------------------------------------------------
# a second writer while a real process holds the run folder, then a real SIGINT


@pytest.fixture(scope="module")
def holder(tmp_path_factory):
    """A ``modgen train`` subprocess writing a run folder (checkpoints every 5 episodes)."""
    out = tmp_path_factory.mktemp("held") / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "modgen",
            "train",
            "--preset",
            "tiny",
            "--episodes",
            "1000000",
            "--no-eval",
            "--out",
            str(out),
            "--set",
            "run.checkpoint_every=5",
            "--set",
            "run.log_every=5",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 180
    while not (out / "checkpoints" / "last.pt").is_file():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the holding run did not start: {proc.communicate()[1][-2000:]}")
        time.sleep(0.2)
    yield proc, out
    if proc.poll() is None:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("extra", [[], ["--overwrite"], ["--resume"]], ids=["plain", "overwrite", "resume"])
def test_a_second_writer_fails_at_once_naming_the_holder(extra, holder, regs):
    proc, out = holder
    if extra == ["--resume"]:
        argv = ["train", "--resume", str(out), "--episodes", "2000000", "--no-eval"]
    else:
        argv = [*TRAIN, *extra, "--out", str(out)]
    t0 = time.monotonic()
    result = invoke(argv, regs)
    error_line(
        result,
        3,
        rf"run folder '.*' is being written by another modgen process \(pid {proc.pid}\); wait "
        r"for it to finish or use another --out",
    )
    assert time.monotonic() - t0 < 60
    assert proc.poll() is None, "the holder was disturbed"
    assert (out / "config.toml").is_file() and (out / "checkpoints" / "last.pt").is_file()
    episodes = train_episodes(out)
    assert episodes == sorted(set(episodes)) and episodes, "metrics interleaved or lost"


def test_ctrl_c_prints_one_line_with_the_resume_command(holder, regs):
    proc, out = holder
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "interrupted" in line]
    assert lines == [
        f"interrupted; the last checkpoint is kept, resume with: modgen train --resume "
        f"{shlex.quote(str(out))}"
    ], err
    done = load_checkpoint(out / "checkpoints" / "last.pt")["episode"]
    resumed = invoke(["train", "--resume", str(out), "--episodes", str(done + 2), "--no-eval"], regs)
    assert resumed.exit_code == 0, resumed.output
    episodes = train_episodes(out)
    assert episodes == sorted(set(episodes)) and episodes[-1] == done + 2


# ----------------------------------------------------------------------------------------------
# plugins: isolated failures, each reported once in one line, built-ins untouchable


class EP:
    """A stand-in for an importlib entry point."""

    def __init__(self, name: str, load: Callable[[], Any], dist: str | None = None) -> None:
        self.name, self.load, self.value = name, load, f"{name}_pkg:plugin"
        self.dist = types.SimpleNamespace(name=dist, version="1.0") if dist else None


def plugin(**hooks: Any) -> Callable[[], Any]:
    return lambda: types.SimpleNamespace(**hooks)


def load_with(monkeypatch, *eps: EP) -> tuple[Any, list[str]]:
    import warnings

    monkeypatch.setattr("modgen.plugins._entry_points", lambda: list(eps))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        registries = get_registries()
    messages = [str(w.message) for w in caught if issubclass(w.category, PluginWarning)]
    for message in messages:
        assert "\n" not in message
    return registries, messages


def _exits(code: Any) -> Callable[[], Any]:
    def load() -> Any:
        sys.exit(code)

    return load


def _raises(err: BaseException) -> Callable[[], Any]:
    def load() -> Any:
        raise err

    return load


@pytest.mark.parametrize(
    ("load", "pattern"),
    [
        (_exits(3), r"plugin 'bad' failed while importing: SystemExit: 3; it was skipped"),
        (_exits(0), r"plugin 'bad' failed while importing: SystemExit: 0"),
        (_exits("bye"), r"plugin 'bad' failed while importing: SystemExit: bye"),
        (
            _raises(ImportError("No module named 'torchvision'")),
            r"ImportError: No module named 'torchvision'",
        ),
        (_raises(RuntimeError("two\nlines")), r"RuntimeError: two lines"),
    ],
    ids=["exit-3", "exit-0", "exit-text", "import-error", "two-lines"],
)
def test_a_plugin_failing_at_import_is_isolated(load, pattern, monkeypatch, capsys):
    registries, messages = load_with(monkeypatch, EP("bad", load), EP("good", plugin()))
    assert len(messages) == 1 and re.search(pattern, messages[0].replace("\n", " ")), messages
    assert "amaz" in registries.recipe and "good" in registries.plugins and "bad" not in registries.plugins
    result = invoke(["plugins"], registries)
    assert result.exit_code == 0 and "failed (import)" in result.output
    # through the console entry point every warning is one plain line on stderr
    from modgen.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["list", "recipe"])
    assert exit_.value.code == 0
    warned = [line for line in capsys.readouterr().err.splitlines() if line.startswith("Warning:")]
    assert len(warned) == 1 and "'bad'" in warned[0], warned


def test_two_distributions_claiming_one_entry_point_name_are_both_reported(monkeypatch):
    @hookimpl
    def modgen_register_components(registries):
        registries.modulator.register("dup.x", torch.nn.Identity)

    registries, messages = load_with(
        monkeypatch,
        EP("dup", plugin(modgen_register_components=modgen_register_components), "dist-a"),
        EP("dup", plugin(modgen_register_components=modgen_register_components), "dist-b"),
    )
    assert len(messages) == 2
    assert re.search(r"'dup' of dist-a 1\.0 is also claimed by dist-b 1\.0; neither was loaded", messages[0])
    assert re.search(r"'dup' of dist-b 1\.0 is also claimed by dist-a 1\.0", messages[1])
    assert "dup.x" not in registries.modulator and "dup" not in registries.plugins


class _Net(torch.nn.Module):
    def __init__(self, out: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(1, 1)
        self.out = out

    def forward(self, *args: Any) -> Any:
        return self.out(*args)


def _boom(*args: Any) -> Any:
    raise RuntimeError("boom\nat line 2 of the plugin")


CONTRACT = [
    (
        "attribute_decoder",
        lambda x: x[..., :1],
        {},
        1,
        r"attribute_decoder 'bad\.c' \(from bad\) returned \(2, 3, 1\) for inputs of 2 tasks x 3 samples, expected a "
        r"tensor \(2, 3, 18\)",
    ),
    ("aux_classifier", lambda x: None, {}, 1, r"aux_classifier 'bad\.c' \(from bad\) returned NoneType"),
    (
        "critic",
        lambda x, a: x,
        {},
        1,
        r"critic 'bad\.c' \(from bad\) returned \(2, 3, 64\) .* expected a tensor \(2, 3\)",
    ),
    (
        "generator",
        lambda z, a, m=None: z,
        {"modulated_dims": [16]},
        1,
        r"generator 'bad\.c' \(from bad\) with modulator 'attribute' returned \(2, 3, \d+\) .*expected a tensor "
        r"\(2, 3, 64\)",
    ),
    (
        "generator",
        lambda z, a, m=None: z,
        {},
        2,
        r"generator 'bad\.c': the generator has no modulated_dims attribute",
    ),
    (
        "attribute_decoder",
        _boom,
        {},
        1,
        r"attribute_decoder 'bad\.c' \(from bad\) failed a forward pass: RuntimeError: boom$",
    ),
]


@pytest.mark.parametrize(
    ("kind", "out", "attrs", "code", "pattern"), CONTRACT, ids=[f"{c[0]}-{i}" for i, c in enumerate(CONTRACT)]
)
def test_a_component_breaking_its_contract_fails_before_training(
    kind, out, attrs, code, pattern, monkeypatch, tmp_path
):
    def build(**kw: Any) -> Any:
        net = _Net(out, **kw)
        for key, value in attrs.items():
            setattr(net, key, value)
        return net

    @hookimpl
    def modgen_register_components(registries):
        registries.kind(kind).register("bad.c", build)

    registries, messages = load_with(
        monkeypatch, EP("bad", plugin(modgen_register_components=modgen_register_components))
    )
    assert messages == []
    result = invoke([*TRAIN, "--set", f"{kind}.name=bad.c", "--out", str(tmp_path / "new")], registries)
    error_line(result, code, pattern)
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize(
    ("register", "pattern"),
    [
        (
            lambda r: r.modulator.register("bad.x", 3),
            r"plugin 'bad' registered modulator 'bad\.x' as 3 \(of type int\), which cannot be called",
        ),
        (
            lambda r: r.critic.register("bad.x")("not callable"),
            r"plugin 'bad' registered critic 'bad\.x' as 'not callable' \(of type str\)",
        ),
        (
            lambda r: r.modulator.unregister("attribute"),
            r"plugin 'bad' failed in hook modgen_register_components: AttributeError: .*'unregister'",
        ),
        (
            lambda r: r.modulator.register("attribute", torch.nn.Identity),
            r"plugin 'bad' tried to register modulator 'attribute': third-party names must start with 'bad\.'",
        ),
        (lambda r: r.recipe.register("amaz", lambda: None), r"tried to register recipe 'amaz'"),
        (lambda r: sys.exit(1), r"plugin 'bad' failed in hook modgen_register_components: SystemExit: 1"),
    ],
    ids=[
        "non-callable",
        "non-callable-decorated",
        "unregister-builtin",
        "replace-builtin",
        "replace-recipe",
        "exit-in-hook",
    ],
)
def test_a_plugin_cannot_break_the_registries(register, pattern, monkeypatch):
    @hookimpl
    def modgen_register_components(registries):
        registries.modulator.register("bad.ok", torch.nn.Identity)
        register(registries)

    registries, messages = load_with(
        monkeypatch, EP("bad", plugin(modgen_register_components=modgen_register_components))
    )
    assert len(messages) == 1 and re.search(pattern, messages[0]), messages
    assert registries.modulator.entry("attribute").origin == "builtin"
    assert registries.recipe.entry("amaz").origin == "builtin"
    assert "bad.ok" not in registries.modulator  # what it registered before failing is removed


@pytest.mark.parametrize(
    ("hook", "argv", "pattern"),
    [
        (
            "components",
            ["--set", "modulator.name=bad.x"],
            r"modulator 'bad\.x': built a int, expected a torch\.nn",
        ),
        (
            "recipes",
            ["--recipe", "bad.r"],
            r"recipe 'bad\.r' of plugin 'bad' returned int, expected a RecipeSpec",
        ),
        ("recipes", ["--preset", "bad.p"], r"preset 'bad\.p' returned NoneType, expected a RecipeSpec"),
    ],
    ids=["factory-returns-int", "recipe-returns-int", "preset-returns-none"],
)
def test_a_plugin_factory_returning_the_wrong_thing(hook, argv, pattern, monkeypatch, tmp_path):
    @hookimpl
    def modgen_register_components(registries):
        registries.modulator.register("bad.x", lambda **kw: 3)

    @hookimpl
    def modgen_register_recipes(registries):
        registries.recipe.register("bad.r", lambda: 3)
        registries.preset.register("bad.p", lambda spec, regs: None)

    hooks = {
        "components": {"modgen_register_components": modgen_register_components},
        "recipes": {"modgen_register_recipes": modgen_register_recipes},
    }[hook]
    registries, messages = load_with(monkeypatch, EP("bad", plugin(**hooks)))
    assert messages == []
    result = invoke(["train", "--episodes", "2", *FAST, *argv, "--out", str(tmp_path / "new")], registries)
    error_line(result, 1 if hook == "recipes" else 2, pattern)
    assert not (tmp_path / "new").exists()
