"""The pipeline's promises end to end on a tiny run: the threads it records are the ones training
used, the records of an evaluation, and a repeated run in the default folder."""

from __future__ import annotations

import json

import pytest
import torch

from modgen.pipeline import resolve_spec, run
from modgen.testing.presets import tiny

FAST = [
    "trainer.episodes=2",
    "run.device=cpu",
    "run.log_every=1",
    "evaluation.selection=none",
    'evaluation.classifiers=["svm"]',
    "evaluation.seeds=1",
    "evaluation.zsl_samples=10",
    "evaluation.gzsl_samples=10",
    "evaluation.classifier_params.svm.max_iter=20",
]


def tiny_spec(registries, *extra: str):
    return tiny(resolve_spec(registries, "amaz", dataset="digits", overrides=[*FAST, *extra]), registries)


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_provenance_records_the_threads_training_used(registries, tmp_path, monkeypatch, restore_threads):
    """run.threads=0 follows the policy for the networks' size; what provenance.json records is what
    torch used while training (and evaluate_run sets the same for the same networks)."""
    import modgen.runtime
    from modgen.pipeline import evaluate_run

    monkeypatch.setattr(modgen.runtime, "SMALL_NETWORK_PARAMS", 1)  # the tiny networks count as large
    monkeypatch.setattr(modgen.runtime, "available_cores", lambda: 2)
    torch.set_num_threads(1)
    seen: list[int] = []
    done = run(
        tiny_spec(registries, "run.threads=0"),
        registries,
        tmp_path / "run",
        progress=lambda *_: seen.append(torch.get_num_threads()),
    )
    recorded = json.loads(done.run.provenance.read_text())["threads"]
    assert seen and set(seen) == {recorded} == {2}
    torch.set_num_threads(1)
    evaluate_run(tmp_path / "run", registries, device="cpu")
    assert torch.get_num_threads() == 2


def test_an_evaluation_record_has_what_the_runs_own_record_has(registries, tmp_path):
    """evaluate_run appends the same kind of metrics record as run: ZSL, GZSL H and the quality measures."""
    from modgen.pipeline import evaluate_run
    from modgen.rundir import RunDir

    done = run(tiny_spec(registries), registries, tmp_path / "run")
    _, folder = evaluate_run(
        tmp_path / "run", registries, overrides=["evaluation.gzsl_seen=real"], device="cpu"
    )
    first, again = [r for r in RunDir(done.run.root).read_metrics() if r.get("kind") == "eval"]
    assert first["evaluation"] == "final" and again["evaluation"] == folder.name
    assert (
        {k.split("/")[0] for k in again} == {k.split("/")[0] for k in first} >= {"zsl", "gzsl_h", "quality"}
    )
    assert set(first) == set(again)


# ----------------------------------------------------------------------------------------------
# the quick start can be repeated: a finished run in the default folder is shown, never replaced

QUICK = [
    "-q",
    "train",
    "--recipe",
    "amaz",
    "--preset",
    "tiny",
    "--episodes",
    "2",
    *("--set", "evaluation.selection=none"),
    *("--set", "evaluation.seeds=1"),
    *("--set", 'evaluation.classifiers=["svm"]'),
    *("--set", "evaluation.zsl_samples=10"),
    *("--set", "evaluation.gzsl_samples=10"),
]


def _files(root):
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file()
    }


def test_repeating_the_quick_start_shows_the_finished_run(registries, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from modgen.cli import build_app

    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def train(*extra: str):
        return runner.invoke(build_app(registries, plugin_commands=False), [*QUICK, *extra])

    first = train()
    assert first.exit_code == 0, first.output
    (folder,) = (tmp_path / "runs").iterdir()
    before = _files(tmp_path / "runs")

    again = train()
    assert again.exit_code == 0, again.output
    assert "already done" in again.output and "--overwrite" in again.output and "--seed" in again.output
    assert "ZSL top-1" in again.output  # the finished run's results, as the first run printed them
    assert _files(tmp_path / "runs") == before  # nothing trained, nothing written

    other = train("--set", "trainer.sigma_train=0.5")  # another spec: its own folder, trained
    assert other.exit_code == 0, other.output
    assert "already done" not in other.output and len(list((tmp_path / "runs").iterdir())) == 2

    two = train("--seeds", "2")  # seed 0 is the finished run, seed 1 is trained
    assert two.exit_code == 0, two.output
    assert two.output.count("already done") == 1 and (folder / "results.json").is_file()
    assert _files(folder / "seed0") == {k.split("/seed0/", 1)[1]: v for k, v in before.items()}
    assert train("--seeds", "2").output.count("already done") == 2


def test_run_in_the_default_folder_returns_a_finished_run_and_an_explicit_folder_refuses_it(
    registries, tmp_path, monkeypatch
):
    from modgen.errors import ConfigError

    monkeypatch.chdir(tmp_path)
    spec = tiny_spec(registries)
    done = run(spec, registries)
    again = run(spec, registries)
    assert again.reused and not done.reused and again.run.root == done.run.root
    assert again.result.zsl == done.result.zsl and again.outcome.episodes == 2
    with pytest.raises(ConfigError, match=r"already holds a finished run; add --resume"):
        run(spec, registries, done.run.root)
