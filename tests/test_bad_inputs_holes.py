"""The last holes (issue #26), each as a bad-input case: the exit code, one line, no traceback,
the culprit named and no user file changed.

* ``--overwrite`` deletes by the manifest of what modgen wrote: a user's file inside every
  modgen-named folder survives;
* tracebacks turned into one line: a binary ``config.toml``, a non-numeric episode in
  ``metrics.jsonl``, networks too large for the memory, a plugin's recipe factory that raises,
  ``BaseException`` and ``KeyboardInterrupt`` from a plugin;
* accepted silently before: a plugin printing to stdout, a wrapper hook, ``--set`` with a
  newline, ``--config`` with ``--recipe``;
* SIGTERM treated like Ctrl-C (exit 143, the checkpoint kept, resume bit-identical);
* a plugin recipe naming a missing component, ``evaluate`` of a ``--no-eval`` run;
* wording: a dangling ``--out`` symlink, a ``--config`` symlink loop, a UTF-8 BOM.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import types
import warnings
from pathlib import Path
from typing import Any

import pytest
import test_bad_inputs
import torch
from typer.testing import CliRunner

from modgen import hookimpl
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
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def regs():
    return get_registries(entry_points=False)


# the bad-input suite's own helpers: one CLI invocation, and its one error line
invoke, error_line = test_bad_inputs.invoke, test_bad_inputs.error_line


def snapshot(root: Path, skip: tuple[str, ...] = (".lock",)) -> dict[str, tuple[str, int]]:
    return {
        str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in skip
    }


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, regs):
    """A finished tiny run with every modgen folder: selection/, evaluations/<id>/, plots/."""
    out = tmp_path_factory.mktemp("evaluated") / "run"
    sel = ["--set", "evaluation.seeds=1", "--set", 'evaluation.classifiers=["svm"]']
    result = invoke(["train", *TINY, *sel, "--out", str(out)], regs)
    assert result.exit_code == 0, result.output
    result = invoke(["evaluate", str(out), "--set", "evaluation.selection=none"], regs)
    assert result.exit_code == 0, result.output
    result = invoke(["plot", "losses", str(out)], regs)
    assert result.exit_code == 0, result.output
    return out


# ----------------------------------------------------------------------------------------------
# --overwrite deletes by the manifest


def test_overwrite_keeps_a_user_file_inside_every_modgen_folder(evaluated, regs, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(evaluated, run)
    folders = sorted({p.parent for p in run.rglob("*") if p.is_file()} - {run})
    named = {f.relative_to(run).parts[0] for f in folders}
    assert {"checkpoints", "plots", "selection", "evaluations"} <= named, named
    mine = [run / "my_notes.txt"] + [f / "my_annotated.png" for f in folders]
    for i, path in enumerate(mine):
        path.write_bytes(b"user data %d\n" % i)
    kept = {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in mine}
    result = invoke(["train", *TINY, "--no-eval", "--overwrite", "--out", str(run)], regs)
    assert result.exit_code == 0, result.output
    assert {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in mine if p.is_file()} == kept
    # what modgen wrote is gone: the old evaluation, its plot, the selection model
    assert not (run / "plots" / "losses.png").exists()
    assert not (run / "selection" / "config.toml").exists()
    assert not list((run / "evaluations").rglob("results.json"))
    assert not (run / "results.json").exists() and RunDir(run).is_trained()
    # a second overwrite in the same process deletes what the first one's run wrote
    assert invoke(["plot", "losses", str(run)], regs).exit_code == 0
    result = invoke(["train", *TINY, "--no-eval", "--overwrite", "--out", str(run)], regs)
    assert result.exit_code == 0, result.output
    assert not (run / "plots" / "losses.png").exists()
    assert {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in mine if p.is_file()} == kept


def test_overwrite_of_a_run_without_a_manifest_deletes_only_modgen_names(evaluated, regs, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(evaluated, run)
    for manifest in run.rglob(".manifest"):
        manifest.unlink()
    (run / "plots" / "figure-for-paper.png").write_bytes(b"mine")
    result = invoke(["train", *TINY, "--no-eval", "--overwrite", "--out", str(run)], regs)
    assert result.exit_code == 0, result.output
    assert (run / "plots" / "figure-for-paper.png").read_bytes() == b"mine"
    assert not (run / "plots" / "losses.png").exists()


# ----------------------------------------------------------------------------------------------
# SIGTERM (a cluster scheduler stopping the job): like Ctrl-C, exit 143


def _losses(run: Path) -> list[dict[str, Any]]:
    """The training records without their time stamps and timings."""
    return [
        {k: v for k, v in r.items() if k not in ("time", "seconds_per_episode")}
        for r in RunDir(run).read_metrics()
        if r.get("kind", "train") == "train"
    ]


def test_sigterm_saves_the_episode_and_the_resumed_run_is_bit_identical(regs, tmp_path):
    out = tmp_path / "b"
    settings = ["--preset", "tiny", "--no-eval", "--set", "run.log_every=1"]
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "modgen",
            "train",
            *settings,
            "--episodes",
            "1000000",
            "--out",
            str(out),
            "--set",
            "run.checkpoint_every=1000000",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 180
    while len(_losses(out)) < 3:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the run did not start: {proc.communicate()[1][-2000:]}")
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "terminated" in line]
    assert lines == [
        f"terminated (SIGTERM); the last checkpoint is kept, resume with: modgen train --resume {shlex.quote(str(out))}"
    ], err
    done = load_checkpoint(out / "checkpoints" / "last.pt")["episode"]
    assert done == _losses(out)[-1]["episode"] >= 3  # the last finished episode, saved
    resumed = invoke(["train", "--resume", str(out), "--episodes", str(done + 2), "--no-eval"], regs)
    assert resumed.exit_code == 0, resumed.output
    straight = tmp_path / "a"
    result = invoke(["train", *settings, "--episodes", str(done + 2), "--out", str(straight)], regs)
    assert result.exit_code == 0, result.output
    assert _losses(out) == _losses(straight)
    a = load_checkpoint(straight / "checkpoints" / "last.pt")["model"]
    b = load_checkpoint(out / "checkpoints" / "last.pt")["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ----------------------------------------------------------------------------------------------
# plugins: BaseException isolated, a real Ctrl-C still stops, prints go to stderr, wrappers refused


class EP:
    """A stand-in for an importlib entry point."""

    def __init__(self, name: str, load: Any) -> None:
        self.name, self.load, self.value, self.dist = name, load, f"{name}_pkg:plugin", None


def plugin(**hooks: Any) -> Any:
    return lambda: types.SimpleNamespace(**hooks)


def load_with(monkeypatch, *eps: EP) -> tuple[Any, list[str]]:
    monkeypatch.setattr("modgen.plugins._entry_points", lambda: list(eps))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        registries = get_registries()
    messages = [str(w.message) for w in caught if issubclass(w.category, PluginWarning)]
    assert all("\n" not in m for m in messages)
    return registries, messages


class _Custom(BaseException):
    pass


def _raising(err: BaseException) -> Any:
    def load() -> Any:
        raise err

    return load


@hookimpl
def _hook_raises_base(registries: Any) -> None:
    raise _Custom("deep trouble")


@hookimpl
def _hook_raises_ctrl_c(registries: Any) -> None:
    raise KeyboardInterrupt("not the user")


@pytest.mark.parametrize(
    ("ep", "pattern"),
    [
        (EP("bad", _raising(KeyboardInterrupt())), r"'bad' failed while importing: KeyboardInterrupt"),
        (EP("bad", _raising(_Custom("at import"))), r"'bad' failed while importing: _Custom: at import"),
        (
            EP("bad", plugin(modgen_register_components=_hook_raises_base)),
            r"'bad' failed in hook modgen_register_components: _Custom: deep trouble",
        ),
        (
            EP("bad", plugin(modgen_register_recipes=_hook_raises_ctrl_c)),
            r"'bad' failed in hook modgen_register_recipes: KeyboardInterrupt: not the user",
        ),
    ],
    ids=["ctrl-c-at-import", "base-at-import", "base-in-hook", "ctrl-c-in-hook"],
)
def test_a_plugin_raising_a_base_exception_is_isolated(ep, pattern, monkeypatch, capsys):
    registries, messages = load_with(monkeypatch, ep, EP("good", plugin()))
    assert len(messages) == 1 and re.search(pattern, messages[0]), messages
    assert "amaz" in registries.recipe and "good" in registries.plugins and "bad" not in registries.plugins
    from modgen.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["list", "recipe"])
    assert exit_.value.code == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len([line for line in err.splitlines() if line.startswith("Warning:") and "'bad'" in line]) == 1


def test_a_real_ctrl_c_while_a_plugin_loads_still_stops_modgen(monkeypatch):
    def slow() -> Any:
        os.kill(os.getpid(), signal.SIGINT)  # the user presses Ctrl-C while the plugin imports
        time.sleep(5)
        return types.SimpleNamespace()

    monkeypatch.setattr("modgen.plugins._entry_points", lambda: [EP("slow", slow)])
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        get_registries()
    assert time.monotonic() - t0 < 4


def _printing() -> Any:
    print("hello from a plugin at import")

    @hookimpl
    def modgen_register_recipes(registries: Any) -> None:
        print("hello from a plugin's hook")

    return types.SimpleNamespace(modgen_register_recipes=modgen_register_recipes)


def test_a_plugin_printing_leaves_machine_readable_output_intact(evaluated, monkeypatch, capsys):
    import tomllib

    from modgen.cli import main

    monkeypatch.setattr("modgen.plugins._entry_points", lambda: [EP("chatty", _printing)])
    with pytest.raises(SystemExit) as exit_:
        main(["recipe", "show", "amaz"])
    assert exit_.value.code == 0
    out, err = capsys.readouterr()
    assert tomllib.loads(out)["name"] == "amaz"
    assert "hello from a plugin at import" in err and "hello from a plugin's hook" in err
    with pytest.raises(SystemExit) as exit_:
        main(["compare", str(evaluated), "-f", "json"])
    assert exit_.value.code == 0
    out, err = capsys.readouterr()
    json.loads(out)
    assert "hello from a plugin" in err


def test_a_wrapper_hook_is_refused_naming_the_plugin(monkeypatch):
    @hookimpl(wrapper=True)
    def modgen_register_recipes(registries: Any) -> Any:
        return (yield)

    registries, messages = load_with(
        monkeypatch, EP("wrap", plugin(modgen_register_recipes=modgen_register_recipes))
    )
    assert len(messages) == 1 and "'wrap'" in messages[0] and "wrapper=True" in messages[0], messages
    assert "wrap" not in registries.plugins


# ----------------------------------------------------------------------------------------------
# one line, the culprit named, no user file changed


def _recipe_plugin(make: Any) -> Any:
    @hookimpl
    def modgen_register_recipes(registries: Any) -> None:
        registries.recipe.register("bad.recipe", make)

    return types.SimpleNamespace(modgen_register_recipes=modgen_register_recipes)


def _exploding() -> Any:
    raise ValueError("recipe factory exploded")


def _missing_generator() -> Any:
    from attrs import evolve

    from modgen.config import ComponentSpec
    from modgen.recipes import amaz

    return evolve(amaz(), generator=ComponentSpec("no-such-gen"))


def _binary_config(tmp: Path) -> None:
    (tmp / "run" / "config.toml").write_bytes(b"\x00\x9a\xff garbage \x9a")


def _word_episode(tmp: Path) -> None:
    metrics = tmp / "run" / "metrics.jsonl"
    lines = metrics.read_text().splitlines()
    first = json.loads(lines[0])
    first["episode"] = "five"
    metrics.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")


def _config_loop(tmp: Path) -> None:
    (tmp / "loop.toml").symlink_to(tmp / "loop.toml")


def _dangling_out(tmp: Path) -> None:
    (tmp / "out").symlink_to(tmp / "nowhere")


def _config_file(tmp: Path) -> None:
    (tmp / "x.toml").write_text('name = "amaz"\n')


def _fail_allocation(monkeypatch: Any) -> None:
    def build(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("device") == "meta":
            raise RuntimeError("no estimate")  # as if the estimate could not be made
        raise RuntimeError(
            "[enforce fail at alloc_cpu.cpp:127] data. DefaultCPUAllocator: can't allocate memory: you tried "
            "to allocate 14400000000000 bytes. Error code 12 (Cannot allocate memory)"
        )

    monkeypatch.setattr("modgen.assembly.build_assembly", build)


NEW = ["--no-eval", "--out", "{tmp}/new"]
CASES = [
    # (id, argv, setup(tmp), in-process patch, plugin recipe factory, code, pattern)
    (
        "binary-run-config",
        ["evaluate", "{tmp}/run"],
        _binary_config,
        None,
        None,
        2,
        r"config file '.*run/config.toml' is not UTF-8 text \(byte 0x9a at offset 1\)",
    ),
    (
        "word-episode",
        ["plot", "losses", "{tmp}/run"],
        _word_episode,
        None,
        None,
        1,
        r"metrics.jsonl: training record 1 has episode 'five', expected a number",
    ),
    (
        "huge-hidden",
        ["train", *TINY, *NEW, "--set", "generator.params.hidden=100000000000"],
        None,
        None,
        None,
        2,
        r"the largest setting is generator.params.hidden = 100000000000: make it smaller",
    ),
    (
        "too-large-for-memory",
        ["train", *TINY, *NEW, "--set", "generator.params.hidden=3000000"],
        None,
        None,
        None,
        2,
        r"the generator 'mlp' has 18,000,315,000,064 parameters; .* more than this machine's memory .* "
        r"generator.params.hidden = 3000000",
    ),
    (
        "allocation-fails",
        ["train", *TINY, *NEW],
        None,
        _fail_allocation,
        None,
        1,
        r"^Error: out of memory \(tried to allocate 14400000000000 bytes\); use smaller networks",
    ),
    (
        "recipe-factory-raises",
        ["train", "--recipe", "bad.recipe", *TINY, *NEW],
        None,
        None,
        _exploding,
        1,
        r"recipe 'bad.recipe' of plugin 'bad' failed: ValueError: recipe factory exploded",
    ),
    (
        "recipe-names-missing-generator",
        ["train", "--recipe", "bad.recipe", *TINY, *NEW],
        None,
        None,
        _missing_generator,
        2,
        r"recipe 'bad.recipe' of plugin 'bad', generator: Can't find 'no-such-gen'",
    ),
    (
        "set-with-newline",
        ["train", *TINY, *NEW, "--set", 'run.device="cpu"\nfoo=1'],
        None,
        None,
        None,
        2,
        r"--set 'run.device=\"cpu\"\\nfoo=1': holds a line break; .* give each its own",
    ),
    (
        "config-and-recipe",
        ["train", "--config", "{tmp}/x.toml", "--recipe", "amaz-zsml", *NEW],
        _config_file,
        None,
        None,
        2,
        r"--config '.*x.toml' is a whole recipe, so --recipe 'amaz-zsml' cannot be combined with it",
    ),
    (
        "config-symlink-loop",
        ["train", "--config", "{tmp}/loop.toml", *NEW],
        _config_loop,
        None,
        None,
        2,
        r"config file '.*loop.toml' is a symlink loop",
    ),
    (
        "dangling-out-symlink",
        ["train", *TINY, "--no-eval", "--out", "{tmp}/out"],
        _dangling_out,
        None,
        None,
        1,
        r"'.*/out' is a symlink to '.*nowhere', which does not exist",
    ),
]


@pytest.mark.parametrize(
    ("argv", "setup", "patch", "factory", "code", "pattern"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_hole(argv, setup, patch, factory, code, pattern, evaluated, regs, tmp_path, monkeypatch):
    import shutil

    monkeypatch.chdir(tmp_path)
    if "{tmp}/run" in " ".join(argv):
        shutil.copytree(evaluated, tmp_path / "run")
    if setup is not None:
        setup(tmp_path)
    if patch is not None:
        patch(monkeypatch)
    registries = regs
    if factory is not None:
        registries = get_registries([("bad", _recipe_plugin(factory))], entry_points=False)
    before = snapshot(tmp_path)
    result = invoke([a.format(tmp=tmp_path) for a in argv], registries)
    error_line(result, code, pattern)
    assert snapshot(tmp_path) == before, "a file was changed or lost"
    assert not (tmp_path / "new").exists()


# ----------------------------------------------------------------------------------------------
# valid input accepted


def test_a_config_file_with_a_utf8_bom_is_accepted(regs, tmp_path):
    shown = invoke(["recipe", "show", "amaz", "--preset", "tiny"], regs)
    assert shown.exit_code == 0, shown.output
    config = tmp_path / "x.toml"
    config.write_bytes(b"\xef\xbb\xbf" + shown.output.encode())
    result = invoke(
        ["train", "--config", config, "--episodes", "1", "--no-eval", "--out", tmp_path / "run"], regs
    )
    assert result.exit_code == 0, result.output
    assert RunDir(tmp_path / "run").is_trained()


def test_evaluate_of_a_run_trained_with_no_eval_trains_its_selection_model(evaluated, regs, tmp_path):
    settings = [*TINY, "--set", "evaluation.seeds=1", "--set", 'evaluation.classifiers=["svm"]']
    later = tmp_path / "later"
    result = invoke(["train", *settings, "--no-eval", "--out", later], regs)
    assert result.exit_code == 0, result.output
    assert not (later / "selection").exists()
    result = invoke(["evaluate", later], regs)
    assert result.exit_code == 0, result.output
    assert RunDir(later / "selection").is_trained()
    (evaluation,) = (later / "evaluations").iterdir()
    a = json.loads((evaluated / "results.json").read_text())["runs"][
        0
    ]  # the same settings, evaluated by train
    b = json.loads((evaluation / "results.json").read_text())["runs"][0]
    assert a["zsl"] == b["zsl"] and a["gzsl"] == b["gzsl"]
