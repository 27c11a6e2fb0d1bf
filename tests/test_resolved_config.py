"""config.toml is the whole resolved spec: every parameter of every component as built, so a run
says what ran, ``modgen compare`` shows real values, and ``train --config RUN/config.toml``
reproduces the run."""

from __future__ import annotations

import csv
import io
import json

import pytest
import tomllib
from typer.testing import CliRunner

from modgen.cli import build_app

FAST = [
    *("--episodes", "2"),
    *("--set", "run.device=cpu"),
    *("--set", "evaluation.selection=none"),
    *("--set", "evaluation.seeds=1"),
    *("--set", 'evaluation.classifiers=["svm"]'),
    *("--set", "evaluation.zsl_samples=10"),
    *("--set", "evaluation.gzsl_samples=10"),
    *("--set", "evaluation.classifier_params.svm.max_iter=20"),
]


def _train(app, *args: str):
    result = CliRunner().invoke(app, ["-q", "train", "--recipe", "amaz", *FAST, *args])
    assert result.exit_code == 0, result.output
    return result


def test_config_records_every_component_parameter_and_reproduces_the_run(tmp_path):
    app = build_app(plugin_commands=False)
    _train(app, "--preset", "tiny", "--out", str(tmp_path / "a"))
    config = tomllib.loads((tmp_path / "a" / "config.toml").read_text())
    generator = config["generator"]["params"]
    assert {"hidden", "dropout", "leaky_slope", "bn_eps"} <= set(generator)
    assert "attr_dim" not in generator and "feature_dim" not in generator  # filled in by modgen
    assert "target_dims" not in config["modulator"]["params"]
    assert {"clamp_min", "eps"} <= set(config["quality_weighter"]["params"])

    result = CliRunner().invoke(
        app, ["-q", "train", "--config", str(tmp_path / "a" / "config.toml"), "--out", str(tmp_path / "b")]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "b" / "config.toml").read_text() == (tmp_path / "a" / "config.toml").read_text()
    a_metrics = (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()
    b_metrics = (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
    losses = [
        [{k: v for k, v in json.loads(x).items() if k.startswith("loss/")} for x in m[:2]]
        for m in (a_metrics, b_metrics)
    ]
    assert losses[0] == losses[1] and losses[0][0]


def test_compare_shows_the_sizes_two_presets_set(tmp_path):
    app = build_app(plugin_commands=False)
    _train(app, "--preset", "tiny", "--out", str(tmp_path / "tiny"))
    _train(app, "--out", str(tmp_path / "digits"))
    result = CliRunner().invoke(
        app, ["compare", str(tmp_path / "tiny"), str(tmp_path / "digits"), "-f", "csv"]
    )
    assert result.exit_code == 0, result.output
    header, *rows = list(csv.reader(io.StringIO(result.stdout.strip())))
    assert "generator.hidden" in header, header
    col = header.index("generator.hidden")
    assert sorted(row[col] for row in rows) == ["128", "16"]


def test_unknown_parameter_suggests_the_name_key_and_lists_only_settable_parameters():
    app = build_app(plugin_commands=False)
    result = CliRunner().invoke(app, ["train", "--set", "modulator.nme=x", "--episodes", "1"])
    assert result.exit_code != 0
    text = " ".join(result.output.split())
    assert "Did you mean modulator.name" in text
    assert "Accepted: base, bias, dropout, gate, hidden, leaky_slope, operator, shift_before_bn." in text
    assert "attr_dim" not in text and "target_dims" not in text


def test_unknown_kind_suggests_the_kind():
    app = build_app(plugin_commands=False)
    result = CliRunner().invoke(app, ["list", "modulators"])
    assert result.exit_code != 0
    assert "Did you mean 'modulator'?" in " ".join(result.output.split())


def test_list_shows_docstrings_as_plain_text():
    import re

    result = CliRunner().invoke(build_app(plugin_commands=False), ["list"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert "modulator" in result.output and "logger" in result.output
    assert not re.search(r"``|:(class|func|meth|mod|data|attr):`", result.output), result.output


def test_plugins_shows_modgens_version_for_its_own_command_plugin():
    from modgen._version import __version__

    result = CliRunner().invoke(build_app(), ["plugins"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if "builtin-commands" in x)
    assert __version__ in line and "?" not in line


@pytest.mark.parametrize("command", ["train", "evaluate", "synthesize", "retrieve"])
def test_every_computing_command_takes_threads_and_device(command):
    result = CliRunner().invoke(build_app(plugin_commands=False), [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "--threads" in result.output and "--device" in result.output


def test_threads_reach_a_finished_run_s_evaluation(tmp_path, monkeypatch):
    import modgen.pipeline._analyses as analyses

    app = build_app(plugin_commands=False)
    _train(app, "--preset", "tiny", "--out", str(tmp_path / "a"), "--no-eval")
    seen = []
    real = analyses.open_run
    monkeypatch.setattr(
        analyses, "open_run", lambda *a, **kw: seen.append(kw.get("threads")) or real(*a, **kw)
    )
    result = CliRunner().invoke(app, ["retrieve", str(tmp_path / "a"), "--threads", "1", "--n", "5"])
    assert result.exit_code == 0, result.output
    assert seen == [1] and "AP@5" in result.output


def test_load_run_and_synthesize_are_at_the_top(tmp_path):
    """modgen.synthesize(run, semantics): a folder or a loaded run (or a bare assembly), and
    class ids, a class selection or attribute vectors -> features."""
    import numpy as np
    import torch

    import modgen
    from modgen.errors import ConfigError, DataError, ShapeError

    assert {"load_run", "synthesize", "nn", "classify", "evaluate"} <= set(modgen.__all__)
    regs = modgen.get_registries(entry_points=False)
    app = build_app(plugin_commands=False)
    _train(app, "--preset", "tiny", "--out", str(tmp_path / "a"), "--no-eval")
    outcome = modgen.load_run(tmp_path / "a", regs, device="cpu")
    data = outcome.data
    unseen = [int(c) for c in data.unseen_classes]

    by_folder = modgen.synthesize(tmp_path / "a", unseen, 4, registries=regs, device="cpu")
    assert by_folder.features.shape == (4 * len(unseen), data.feature_dim)
    assert by_folder.labels.tolist() == [c for c in unseen for _ in range(4)]  # class ids, not rows
    by_name = modgen.synthesize(outcome, "unseen", 4)
    torch.testing.assert_close(by_name.features, by_folder.features)  # same seed, same features
    vectors = np.asarray(data.semantics[unseen], dtype=np.float32)
    by_vector = modgen.synthesize(outcome, vectors, 4)
    torch.testing.assert_close(by_vector.features, by_folder.features)
    assert by_vector.labels.tolist() == [i for i in range(len(unseen)) for _ in range(4)]  # rows
    bare = modgen.synthesize(
        outcome.assembly, torch.as_tensor(vectors), 3, generator=torch.Generator().manual_seed(1)
    )
    assert bare.features.shape == (3 * len(unseen), data.feature_dim)
    assert torch.isfinite(bare.features).all()

    # a run evaluated with the nearest seen classes' task synthesises that way here too
    import attrs

    from modgen.evaluate.synthesis import nearest_seen_tasks, synthesize

    spec = outcome.spec
    nearest = attrs.evolve(spec, evaluation=attrs.evolve(spec.evaluation, modulation_task="nearest_seen"))
    near_run = attrs.evolve(outcome, spec=nearest)
    by_task = modgen.synthesize(near_run, "unseen", 4)
    sem = torch.as_tensor(np.asarray(data.semantics, dtype=np.float32))
    size = spec.evaluation.task_size
    tasks = nearest_seen_tasks(sem[unseen], sem[[int(c) for c in data.seen_classes]], size)
    expected = synthesize(
        outcome.assembly, sem[unseen], 4, generator=torch.Generator().manual_seed(0), task_attributes=tasks
    )
    torch.testing.assert_close(by_task.features, expected.features)
    assert not torch.allclose(by_task.features, by_name.features)

    with pytest.raises(ConfigError, match=r"class ids need the run's data"):
        modgen.synthesize(outcome.assembly, unseen, 2)
    with pytest.raises(DataError, match=r"class id 999 is not a class of"):
        modgen.synthesize(outcome, [999], 2)
    with pytest.raises(ShapeError, match=r"semantics must be attribute vectors \(C, A\) or class ids"):
        modgen.synthesize(outcome, np.zeros((2, 3, 4)), 2)


def test_import_modgen_stays_light_and_reaches_the_component_packages():
    import subprocess
    import sys

    code = (
        "import sys, modgen\n"
        "print('torch' in sys.modules)\n"
        "print(modgen.nn.AttributeModulator.__name__, modgen.classify.__name__, modgen.evaluate.__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[:2] == ["False", "AttributeModulator modgen.classify modgen.evaluate"], out


def test_gpu_sized_networks_on_a_cpu_get_a_one_line_hint(tmp_path, monkeypatch):
    """A run whose networks are GPU-sized (here: the threshold lowered under the tiny preset's)
    says so before training on a CPU, with the way out; a small run says nothing."""
    import modgen.runtime as runtime

    app = build_app(plugin_commands=False)
    args = ["train", "--recipe", "amaz", *FAST, "--preset", "tiny", "--no-eval", "--device", "cpu"]
    quiet = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "a")])
    assert quiet.exit_code == 0, quiet.output
    assert "GPU-sized" not in quiet.output
    monkeypatch.setattr(runtime, "GPU_SIZED_PARAMS", 1)
    hinted = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "b")])
    assert hinted.exit_code == 0, hinted.output
    line = next(x for x in hinted.output.splitlines() if "GPU-sized networks on a CPU" in x)
    assert "--preset auto" in line and "--device cuda" in line
