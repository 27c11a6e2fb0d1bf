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
