"""Run loggers (jsonl, tensorboard, mlflow) and the ``modgen_train_record`` callback hook: what the
trackers hold is read back and compared with the run's own metrics.jsonl; a callback stops a run
early and the run records why."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modgen.errors import UnknownComponentError
from modgen.hookspecs import hookimpl
from modgen.loggers import mlflow_name
from modgen.pipeline import resolve_spec, run
from modgen.plugins import get_registries
from modgen.testing.presets import tiny

FAST = [
    "trainer.episodes=4",
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


def _records(folder: Path) -> tuple[list[dict], dict]:
    lines = [json.loads(x) for x in (folder / "metrics.jsonl").read_text().splitlines() if x.strip()]
    return [r for r in lines if r.get("kind") != "eval"], next(r for r in lines if r.get("kind") == "eval")


def test_jsonl_is_always_on_and_first():
    from modgen.config import RunConfig

    assert RunConfig().loggers == ("jsonl",)
    assert RunConfig(loggers=["mlflow", "jsonl", "mlflow"]).loggers == ("jsonl", "mlflow")


def test_unknown_logger_is_refused_before_a_folder_is_made(registries, tmp_path):
    with pytest.raises(
        UnknownComponentError, match="tensorbord.*Available names: jsonl, mlflow, tensorboard"
    ):
        run(tiny_spec(registries, 'run.loggers=["tensorbord"]'), registries, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_tensorboard_and_mlflow_hold_what_metrics_jsonl_holds(registries, tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    folder = tmp_path / "run"
    done = run(tiny_spec(registries, 'run.loggers=["tensorboard", "mlflow"]'), registries, folder)
    train, final = _records(folder)
    loss_keys = sorted(k for k in train[0] if k.startswith("loss/"))
    eval_keys = sorted(k for k in final if "/" in k)
    assert loss_keys and eval_keys

    events = EventAccumulator(str(folder / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    for key in loss_keys:
        got = [(e.step, e.value) for e in events.Scalars(key)]
        assert got == [(r["episode"], pytest.approx(r[key], rel=1e-6)) for r in train]
    for key in eval_keys:
        assert [e.value for e in events.Scalars(key)] == [pytest.approx(final[key], rel=1e-6)]
    assert "plots/losses" in events.Tags()["images"]

    client = MlflowClient(tracking_uri=(folder / "mlruns").resolve().as_uri())
    (mlrun,) = client.search_runs([client.get_experiment_by_name("amaz").experiment_id])
    for key in loss_keys:
        history = client.get_metric_history(mlrun.info.run_id, mlflow_name(key))
        assert [(m.step, m.value) for m in history] == [(r["episode"], pytest.approx(r[key])) for r in train]
    for key in eval_keys:
        assert mlrun.data.metrics[mlflow_name(key)] == pytest.approx(final[key])
    params = mlrun.data.params
    assert params["name"] == "amaz" and params["trainer.params.episodes"] == "4"
    assert params["generator.name"] == done.spec.generator.name
    assert [a.path for a in client.list_artifacts(mlrun.info.run_id, "plots")] == ["plots/losses.png"]
    assert mlrun.info.status == "FINISHED"


class StopAt:
    """A callback plugin that stops the run at ``episode``."""

    def __init__(self, episode: int) -> None:
        self.episode, self.seen = episode, []

    @hookimpl
    def modgen_train_record(self, spec, folder, episode, record):
        self.seen.append((episode, sorted(k for k in record if k.startswith("loss/"))))
        return "enough: test callback" if episode >= self.episode else None


def test_a_callback_plugin_stops_a_run_early_and_the_run_records_why(tmp_path):
    stopper = StopAt(2)
    regs = get_registries([("stopper", stopper)], entry_points=False)
    folder = tmp_path / "run"
    done = run(tiny_spec(regs), regs, folder)
    assert [e for e, _ in stopper.seen] == [1, 2] and stopper.seen[0][1]
    assert done.outcome.stopped == "enough: test callback" and done.outcome.episodes == 2
    prov = json.loads((folder / "provenance.json").read_text())
    assert prov["stopped_early"] == {"episode": 2, "reason": "enough: test callback"}
    assert prov["state"] == "finished"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["episodes"] == 2
    train, final = _records(folder)
    assert [r["episode"] for r in train] == [1, 2] and final["episode"] == 2


def test_the_example_plateau_plugin_stops_a_run(tmp_path):
    sys.path.insert(0, str(Path(__file__).parents[1] / "plugins" / "modgen-plateau-stop"))
    try:
        from modgen_plateau_stop import PlateauStop
    finally:
        sys.path.pop(0)
    regs = get_registries(
        [("plateau", PlateauStop("seconds_per_episode", patience=1, min_delta=1e9))], entry_points=False
    )
    done = run(tiny_spec(regs), regs, tmp_path / "run")
    assert done.outcome.episodes == 2 and "plateau: seconds_per_episode" in done.outcome.stopped
    prov = json.loads((tmp_path / "run" / "provenance.json").read_text())
    assert prov["stopped_early"]["episode"] == 2


def test_train_logger_option_adds_loggers(tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    from modgen.cli import build_app

    app = build_app(plugin_commands=False)

    args = [
        "-q",
        "train",
        "--recipe",
        "amaz",
        "--preset",
        "tiny",
        "--episodes",
        "2",
        "--out",
        str(tmp_path / "r"),
    ]
    for item in FAST[1:]:
        args += ["--set", item]
    result = CliRunner().invoke(app, [*args, "--logger", "tensorboard"])
    assert result.exit_code == 0, result.output
    assert any((tmp_path / "r" / "tensorboard").iterdir())
    assert 'loggers = [\n    "jsonl",\n    "tensorboard",\n]' in (tmp_path / "r" / "config.toml").read_text()
    bad = CliRunner().invoke(app, [*args[:-2], "--out", str(tmp_path / "s"), "--logger", "mlfow"])
    assert bad.exit_code != 0 and "mlfow" in bad.output and "mlflow" in bad.output
