"""``evaluation.checkpoint="val"``: the training length is chosen on the validation classes.

The selection model is scored at each checkpoint on the ``val`` classes it never saw; the first
best episode is recorded (``selection/checkpoints.json``) and the final model stops there. The
scoring must not change what is trained, the test labels must not be read before the choice, and
a finished run resumed must not train on past its chosen episode."""

from __future__ import annotations

import json

import pytest
import torch

OVERRIDES = [
    "trainer.episodes=8",
    "run.checkpoint_every=2",
    "run.log_every=2",
    "run.device=cpu",
    "data.options.val_classes=[8, 9]",
    'evaluation.classifiers=["softmax"]',
    "evaluation.seeds=1",
    "evaluation.zsl_samples=10",
    "evaluation.gzsl_samples=10",
    "evaluation.selection=none",
    "evaluation.checkpoint=val",
]


def _spec(registries, *extra):
    from modgen.pipeline import resolve_spec
    from modgen.testing.presets import tiny

    return tiny(
        resolve_spec(registries, "zsml", dataset="digits", overrides=[*OVERRIDES, *extra]), registries
    )


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    from modgen.pipeline import run
    from modgen.plugins import get_registries

    registries = get_registries(entry_points=False)
    out = tmp_path_factory.mktemp("ckpt") / "run"
    lines: list[str] = []
    result = run(_spec(registries), registries, out, log=lines.append)
    return registries, out, result, lines


def test_every_checkpoint_is_scored_and_the_first_best_is_chosen(finished):
    _, out, result, lines = finished
    record = json.loads((out / "selection" / "checkpoints.json").read_text())
    assert sorted(int(e) for e in record["scores"]) == [2, 4, 6, 8]
    assert record["criterion"].startswith("ncm_cosine_unseen on the val classes")
    assert record["val_classes"] == [8, 9]
    scores = {int(e): v for e, v in record["scores"].items()}
    best = max(scores.values())
    assert record["chosen"] == min(e for e, v in scores.items() if v == best)
    assert any(line.startswith(f"checkpoint selection: episode {record['chosen']} of 8") for line in lines)


def test_the_final_model_trains_the_chosen_number_of_episodes(finished):
    _, out, result, _ = finished
    chosen = json.loads((out / "selection" / "checkpoints.json").read_text())["chosen"]
    assert json.loads((out / "summary.json").read_text())["episodes"] == chosen
    assert result.outcome.episodes == chosen
    if chosen < 8:
        prov = json.loads((out / "provenance.json").read_text())
        assert prov["stopped_early"]["episode"] == chosen
        assert "evaluation.checkpoint=val" in prov["stopped_early"]["reason"]


def test_resuming_a_finished_run_does_not_train_past_the_chosen_episode(finished):
    from modgen.pipeline import run

    registries, out, result, _ = finished
    again = run(_spec(registries), registries, out, resume=True)
    assert again.outcome.episodes == result.outcome.episodes
    assert again.outcome.start == again.outcome.episodes  # loaded, not trained on


def test_scoring_the_checkpoints_does_not_change_the_selection_model(finished, tmp_path):
    """The selection model trained with scoring equals one trained without it, bit for bit."""
    from modgen.data import load_dataset
    from modgen.pipeline import selection_spec, train_or_load
    from modgen.train.checkpoint import load_checkpoint

    registries, out, _, _ = finished
    spec = selection_spec(_spec(registries))
    data = load_dataset(registries, _spec(registries).data).validation_view()
    plain = train_or_load(spec, registries, tmp_path / "plain", data, device=torch.device("cpu"))
    scored = load_checkpoint(out / "selection" / "checkpoints" / "last.pt")["model"]
    for name, tensor in plain.assembly.state_dict().items():
        assert torch.equal(tensor, scored[name]), name


def test_the_selection_model_keeps_the_chosen_episodes_networks(finished):
    from modgen.train.checkpoint import load_checkpoint

    _, out, _, _ = finished
    chosen = json.loads((out / "selection" / "checkpoints.json").read_text())["chosen"]
    best = out / "selection" / "checkpoints" / "best.pt"
    assert best.is_file()
    assert load_checkpoint(best)["episode"] == chosen


def test_evaluate_refuses_to_change_the_checkpoint_of_a_trained_run(finished):
    from modgen.errors import ConfigError
    from modgen.pipeline import evaluate_run

    registries, out, _, _ = finished
    with pytest.raises(ConfigError, match=r"evaluation\.checkpoint chose the run's training length"):
        evaluate_run(out, registries, overrides=["evaluation.checkpoint=last"])


def test_an_unknown_checkpoint_value_names_the_choices(registries):
    from modgen.errors import ConfigError

    with pytest.raises(ConfigError, match=r"evaluation\.checkpoint: expected one of last, val, got 'best'"):
        _spec(registries, "evaluation.checkpoint=best")


def test_choosing_never_reads_the_test_labels(registries, tmp_path):
    from test_pipeline_selection import ForbiddenRead, _guarded

    from modgen.data.digits import load_digits_zsl
    from modgen.pipeline import run

    data = _guarded(load_digits_zsl(val_classes=(8, 9)))
    with pytest.raises(ForbiddenRead):  # the final evaluation reads them, as it must
        run(_spec(registries), registries, tmp_path / "run", data=data)
    record = json.loads((tmp_path / "run" / "selection" / "checkpoints.json").read_text())
    assert record["chosen"] is not None, "the test labels were read before the episode was chosen"
