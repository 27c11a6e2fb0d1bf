"""The run commands end to end through CliRunner with a tiny recipe on digits."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from modgen.cli import build_app

runner = CliRunner()

TINY = [
    "generator.hidden=16",
    "modulator.hidden=16",
    "critic.hidden=[16, 8]",
    "aux_classifier.hidden=[16, 8]",
    "attribute_decoder.hidden=[16, 8]",
    "task_sampler.n_way=2",
    "task_sampler.k_support=2",
    "task_sampler.k_query=2",
    "task_sampler.tasks=2",
]
FAST_EVAL = [
    "evaluation.selection=none",
    "evaluation.seeds=2",
    "evaluation.zsl_samples=10",
    "evaluation.gzsl_samples=10",
    'evaluation.classifiers=["svm", "weighted-softmax"]',
    "evaluation.classifier_params.svm.grid={}",
    "evaluation.classifier_params.weighted-softmax.grid={}",
    "evaluation.classifier_params.weighted-softmax.epochs=2",
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    app = build_app(plugin_commands=False)
    args = ["-q", "train", "--recipe", "amaz", "--episodes", "3", "--out", str(out)]
    for s in [*TINY, *FAST_EVAL]:
        args += ["--set", s]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "ZSL top-1" in result.output and "weighted-softmax" in result.output
    return out


def test_train_writes_the_run_folder(run_dir):
    for name in ("config.toml", "metrics.jsonl", "summary.json", "results.json", "results.md"):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "checkpoints" / "last.pt").is_file()
    assert (run_dir / "plots" / "losses.png").is_file()
    results = json.loads((run_dir / "results.json").read_text())
    zsl = results["runs"][0]["zsl"]
    assert set(zsl) == {"svm", "weighted-softmax"} and all(0.0 <= v <= 100.0 for v in zsl.values())
    assert results["unit"] == "percent"


def test_evaluate_synthesize_retrieve_and_sweep(run_dir, tmp_path):
    app = build_app(plugin_commands=False)
    r = runner.invoke(app, ["evaluate", str(run_dir)])
    assert r.exit_code == 0, r.output
    assert "results written to" in r.output
    out = tmp_path / "syn.npz"
    r = runner.invoke(app, ["synthesize", str(run_dir), "--classes", "4,5", "--n", "7", "--out", str(out)])
    assert r.exit_code == 0, r.output
    with np.load(out) as z:
        assert z["features"].shape == (14, 64) and sorted(set(z["labels"].tolist())) == [4, 5]
    r = runner.invoke(app, ["retrieve", str(run_dir), "--k", "5", "--n", "10"])
    assert r.exit_code == 0 and "AP@5" in r.output, r.output
    r = runner.invoke(
        app,
        ["sweep", "synthesis", str(run_dir), "--param", "samples", "--values", "5,10", "--classifier", "svm"],
    )
    assert r.exit_code == 0, r.output
    assert (run_dir / "sweep-samples.json").is_file() and (run_dir / "plots" / "sweep-samples.png").is_file()


def test_run_commands_fail_clearly(tmp_path):
    app = build_app(plugin_commands=False)
    r = runner.invoke(app, ["evaluate", str(tmp_path)])
    assert r.exit_code != 0 and "is not a modgen run folder: no config.toml" in r.output
    r = runner.invoke(app, ["train", "--data", str(tmp_path / "nowhere")])
    assert r.exit_code == 1 and "no res101.mat there" in r.output
    r = runner.invoke(app, ["train", "--threads", "-1"])
    assert r.exit_code == 2 and "--threads" in r.output
    assert "Traceback" not in r.output


def test_compare_two_recipes_three_seeds_prints_the_table_and_writes_the_plot(tmp_path):
    app = build_app(plugin_commands=False)
    for recipe in ("amaz", "zsml"):
        args = ["-q", "train", "--recipe", recipe, "--preset", "tiny", "--episodes", "2", "--seeds", "3"]
        args += ["--out", str(tmp_path / recipe)]
        for s in FAST_EVAL:
            args += ["--set", s]
        r = runner.invoke(app, args)
        assert r.exit_code == 0, r.output
    png = tmp_path / "cmp.png"
    r = runner.invoke(
        app,
        [
            "compare",
            str(tmp_path / "amaz"),
            str(tmp_path / "zsml"),
            "--plot",
            str(png),
            "--paired",
            "-c",
            "svm",
        ],
    )
    assert r.exit_code == 0, r.output
    table = [line for line in r.output.splitlines() if line.startswith("|") and "svm" in line]
    assert len(table) == 2, r.output  # one row per recipe, the classifier filter applied
    assert all(" ± " in line and "| 3 |" in line.replace("  ", " ") for line in table), r.output
    assert {"amaz", "zsml"} <= {cell.strip() for line in table for cell in line.split("|")}, r.output
    assert "zsl (svm)" in r.output and "(95% CI, n=3)" in r.output, r.output  # the paired difference
    assert png.is_file() and png.stat().st_size > 1000
