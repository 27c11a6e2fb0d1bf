"""The run commands end to end through CliRunner with a tiny recipe on digits."""

from __future__ import annotations

import json
import re

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


def test_compare_two_recipes_three_seeds_prints_the_table_and_writes_the_plot(tmp_path, monkeypatch):
    from modgen.report import plots

    figures = []
    real = plots.comparison_figure
    monkeypatch.setattr(
        plots, "comparison_figure", lambda *a, **kw: figures.append(real(*a, **kw)) or figures[-1]
    )
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
    (ax,) = figures[0].axes  # the bars say which recipe they are; the shared classifier is the title
    assert [t.get_text() for t in ax.get_yticklabels()] == ["amaz", "zsml"] and ax.get_title() == "svm"


def _fake_synthesis(kind: str):
    """A stand-in for the generator at evaluation: ``collapsed`` gives every class the same
    features, ``perfect`` gives each class its real mean (a generator that got every class right)."""
    import torch

    from modgen.data.digits import load_digits_zsl
    from modgen.evaluate.synthesis import SyntheticFeatures

    data = load_digits_zsl()
    X, y = torch.as_tensor(data.features, dtype=torch.float32), torch.as_tensor(data.labels)
    means = torch.stack([X[y == c].mean(0) for c in range(len(data.class_names))])
    semantics = torch.as_tensor(data.semantics, dtype=torch.float32)

    def synthesize(assembly, class_attributes, n, **kwargs):
        attrs = torch.as_tensor(class_attributes, dtype=torch.float32)
        labels = torch.arange(attrs.shape[0]).repeat_interleave(n)
        if kind == "collapsed":
            return SyntheticFeatures(torch.ones(len(labels), X.shape[1]), labels, None)
        classes = torch.cdist(attrs, semantics).argmin(1)
        noise = 0.01 * torch.randn(len(labels), X.shape[1], generator=torch.Generator().manual_seed(0))
        return SyntheticFeatures(means[classes][labels] + noise, labels, None)

    return synthesize


def test_a_collapsed_result_is_reported_in_results_md_the_terminal_and_compare(tmp_path, monkeypatch):
    import modgen.evaluate.sets as sets

    app = build_app(plugin_commands=False)
    outputs = {}
    for kind in ("collapsed", "perfect"):
        monkeypatch.setattr(sets, "synthesize", _fake_synthesis(kind))
        args = [
            "train",
            "--recipe",
            "amaz",
            "--preset",
            "tiny",
            "--episodes",
            "2",
            "--out",
            str(tmp_path / kind),
        ]
        for s in FAST_EVAL:
            args += ["--set", s]
        if kind == "perfect":  # another setting, so that compare shows two groups
            args += ["--set", "evaluation.zsl_samples=12"]
        r = runner.invoke(app, args)
        assert r.exit_code == 0, r.output
        outputs[kind] = " ".join(r.output.split())
    bad, good = outputs["collapsed"], outputs["perfect"]
    assert "warning: unseen collapse:" in bad and "warning: seen classes not reproduced:" in bad, bad
    assert "warning" not in good.lower(), good
    md = (tmp_path / "collapsed" / "results.md").read_text()
    assert "**Warning:** unseen collapse:" in md and "**Warning:** seen classes not reproduced:" in md
    assert "Warning" not in (tmp_path / "perfect" / "results.md").read_text()
    payload = json.loads((tmp_path / "collapsed" / "results.json").read_text())
    run = payload["runs"][0]
    assert [w.split(":")[0] for w in run["warnings"]] == ["unseen collapse", "seen classes not reproduced"]
    assert payload["aggregate"]["warnings"][0].startswith("seed 0: unseen collapse:")
    q = run["quality"]  # the rules are checkable from the stored measures
    assert (
        q["ncm_cosine_unseen"] == pytest.approx(100 / 3)
        and q["ncm_cosine_seen_real"] > 2 * q["ncm_cosine_seen"]
    )
    good_q = json.loads((tmp_path / "perfect" / "results.json").read_text())["runs"][0]
    assert good_q["warnings"] == [] and good_q["quality"]["ncm_cosine_unseen"] > 100 / 3 + 5

    r = runner.invoke(app, ["compare", str(tmp_path / "collapsed"), str(tmp_path / "perfect"), "-c", "svm"])
    assert r.exit_code == 0, r.output
    rows = [line for line in r.output.splitlines() if line.startswith("|")]
    assert "| warnings |" in rows[0], r.output
    assert len(rows) == 4, r.output  # header, rule, one row per setting
    flagged = [
        line
        for line in rows[2:]
        if "unseen collapse 1/1 seeds; seen classes not reproduced 1/1 seeds" in line
    ]
    assert len(flagged) == 1 and "| 10 |" in flagged[0].replace("  ", " "), r.output
    r = runner.invoke(app, ["compare", str(tmp_path / "perfect"), "-c", "svm"])
    assert r.exit_code == 0 and "warnings" not in r.output, r.output


def _train_output(tmp_path, *flags):
    """stderr of a tiny train (selection on the val classes, one classifier) with root ``flags``."""
    app = build_app(plugin_commands=False)
    args = [*flags, "train", "--preset", "tiny", "--episodes", "2", "--out", str(tmp_path)]
    for s in ("evaluation.seeds=1", 'evaluation.classifiers=["svm"]', "evaluation.zsl_samples=10"):
        args += ["--set", s]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.stderr


def test_verbose_shows_sizes_device_threads_grids_and_where_time_went(tmp_path):
    """-v: the resolved sizes, device, thread policy, each classifier's grid and seconds, the time
    of each stage; the default shows the steps only."""
    verbose = _train_output(tmp_path / "v", "-v")
    assert "preset: tiny (--preset)" in verbose
    assert "sizes: generator hidden=16, modulator hidden=16" in verbose
    assert "episodes (meta trainer); tasks (episodic): n_way=2, k_support=2, k_query=2, tasks=2" in verbose
    assert "device: cpu (" in verbose
    assert "threads: 1 thread (run.threads=0, the policy: a network of" in verbose
    assert "selection of svm over a grid of 4 points on 2 val classes: ZSL C=" in verbose
    assert "svm on cpu, evaluation seed 1/1: 1 ZSL + 1 GZSL grid points (C=" in verbose
    times = next(line for line in verbose.splitlines() if line.startswith("time: "))
    stages = re.findall(r"([a-z -]+) \d+\.\d s", times.removeprefix("time: "))
    assert [s.strip(", ") for s in stages] == ["selection", "training", "evaluation", "closed-form floor"], (
        times
    )
    plain = _train_output(tmp_path / "plain")
    assert "trained 2 episodes" in plain  # the steps are still there
    for detail in ("sizes:", "threads:", "device:", "selection of svm", "grid points"):
        assert detail not in plain, detail
    assert not any(line.startswith("time: ") for line in plain.splitlines())
