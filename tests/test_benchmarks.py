"""Benchmarks: each script runs at a tiny --quick setting; the reference episode computes the
meta-trainer's gradients; helpers, trainer.compile's refusals and error messages."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from modgen.errors import ConfigError, DataError, UnknownComponentError
from modgen.train.base import RandomStreams

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
NO_DROPOUT = [
    f"{k}.dropout=0.0" for k in ("generator", "modulator", "critic", "aux_classifier", "attribute_decoder")
]


def _load(name: str):
    """Import benchmarks/<name>.py as a module (the folder is not a package)."""
    if name in sys.modules:
        return sys.modules[name]
    added = str(BENCH) not in sys.path
    if added:
        sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    finally:
        if added and str(BENCH) in sys.path:
            sys.path.remove(str(BENCH))
    return module


@pytest.fixture(scope="module")
def speed():
    return _load("speed")


@pytest.fixture(scope="module")
def accuracy():
    return _load("accuracy")


@pytest.fixture(scope="module")
def benchlib():
    return _load("benchlib")


@pytest.fixture(scope="module")
def digits():
    from modgen.data.digits import load_digits_zsl

    return load_digits_zsl()


# -- speed.py -------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_speed_quick_runs_and_writes_json_and_markdown(speed, tmp_path):
    out = tmp_path / "speed.json"
    # --smoke: synthetic AWA2, the batch variant, 1 episode, no warm-up, 6 classes x 8 (LinearSVC: 4)
    result = speed.main(["--smoke", "--device", "cpu", "--clf-tol", "default,1e-7", "--json", str(out)])
    saved = json.loads(out.read_text())
    assert saved["machine"]["torch"] == torch.__version__ and saved["device"] == "cpu"
    (ds,) = saved["datasets"]
    assert ds["source"].startswith("synthetic class semantics") and ds["attr_dim"] == 85
    names = [r["name"] for r in ds["runs"]]
    assert names == ["modgen batch", "reference (task loop)"]
    ours, ref = ds["runs"]
    assert ref["speedup_vs_reference"] == pytest.approx(1.0)
    assert ours["speedup_vs_reference"] == pytest.approx(ref["median_s"] / ours["median_s"])
    assert ours["flops"] > 0 and ref["flops"] > 0 and ours["median_s"] > 0
    clf = saved["classifier"]
    from modgen.classify import LinearSVMClassifier, SklearnLinearSVC

    default, svc_tol = LinearSVMClassifier().tol, SklearnLinearSVC().tol
    want = [(8, default), (4, default), (8, 1e-7), (4, 1e-7), (4, svc_tol)]
    assert [(r["per_class"], r["tol"]) for r in clf["runs"]] == want
    assert 0 <= clf["runs"][1]["agreement"] <= 1 and "agreement" not in clf["runs"][0]
    md = out.with_suffix(".md").read_text()
    assert "| modgen batch |" in md and "LinearSVC" in md and result["quick"] is True


def test_paper_shapes_fall_back_to_synthetic_semantics(benchlib):
    data, source = benchlib.paper_shaped_data("CUB", xlsa17=None, feature_dim=8, per_class=5)
    assert (data.attr_dim, len(data.seen_classes), len(data.unseen_classes)) == (1024, 150, 50)
    assert data.feature_dim == 8 and "synthetic" in source


@pytest.mark.skipif(
    not (Path(__file__).resolve().parents[2] / "shared" / "data" / "xlsa17" / "CUB").is_dir(),
    reason="the real xlsa17 split files (../shared) are not here",
)
@pytest.mark.parametrize(("dataset", "attr_dim", "seen"), [("AWA2", 85, 40), ("CUB", 1024, 150)])
def test_paper_shapes_from_real_att_splits(benchlib, tmp_path, dataset, attr_dim, seen):
    data, source = benchlib.paper_shaped_data(
        dataset, xlsa17=benchlib.DEFAULT_XLSA17, feature_dim=8, per_class=5, workdir=tmp_path
    )
    assert source.startswith("semi-synthetic") and (data.attr_dim, len(data.seen_classes)) == (attr_dim, seen)


def test_paper_shapes_name_the_unknown_data_set(benchlib):
    with pytest.raises(ConfigError, match=r"unknown data set 'MNIST'; expected some of AWA2, CUB"):
        benchlib.paper_shaped_data("MNIST", xlsa17=None, feature_dim=8, per_class=5)


@pytest.mark.parametrize(("tasks", "adaptation"), [(1, "batch"), (2, "task")])
def test_reference_episode_computes_the_meta_trainers_gradients(speed, digits, registries, tasks, adaptation):
    """Without dropout the task loop and MetaTrainer agree: one task vs batch adaptation, two tasks
    vs per-task (vmap) adaptation. So the speed ratio compares the same computation."""
    cpu = torch.device("cpu")
    spec = speed.build_spec(
        device=cpu,
        quick=True,
        adaptation=adaptation,
        overrides=[*NO_DROPOUT, f"task_sampler.tasks={tasks}", "trainer.alpha1=0.05", "trainer.alpha3=0.05"],
    )
    ours = registries.trainer.get("meta")(
        assembly=speed.build_networks(spec, registries, digits, cpu, 0),
        data=digits,
        spec=spec,
        registries=registries,
        device=cpu,
    )
    ref = speed.ReferenceEpisode(
        speed.build_networks(spec, registries, digits, cpu, 0), digits, spec, registries, cpu
    )
    # the same task and noise streams: the same episode, the same z
    ours.compute_grads(RandomStreams.from_seed(3, cpu))
    ref.compute_grads(RandomStreams.from_seed(3, cpu))
    scale = max(float(p.grad.abs().max()) for p in ours.params.values() if p.grad is not None)
    for k, p in ours.params.items():
        mine = torch.zeros_like(p) if p.grad is None else p.grad
        theirs = torch.zeros_like(p) if ref.params[k].grad is None else ref.params[k].grad
        torch.testing.assert_close(theirs, mine, rtol=1e-3, atol=1e-5 * scale, msg=k)


@pytest.mark.parametrize(
    ("override", "got"),
    [
        ("trainer.first_order=false", "trainer.first_order=False"),
        ("trainer.inner_steps=2", "trainer.inner_steps=2"),
        ("trainer.modulator_loss=gc", "trainer.modulator_loss='gc'"),
    ],
)
def test_reference_episode_refuses_what_it_does_not_implement(speed, digits, registries, override, got):
    spec = speed.build_spec(device=torch.device("cpu"), quick=True, overrides=[override])
    asm = speed.build_networks(spec, registries, digits, torch.device("cpu"), 0)
    with pytest.raises(ConfigError, match=rf"first-order meta-gradients with one inner step.*{got}"):
        speed.ReferenceEpisode(asm, digits, spec, registries, torch.device("cpu"))


def test_build_spec_gives_each_trainer_the_flags_it_takes(speed, registries):
    cpu = torch.device("cpu")
    meta = speed.build_spec(device=cpu, quick=True, adaptation="task", bf16=True)
    assert meta.trainer.params["adaptation"] == "task" and meta.trainer.params["bf16"] is True
    assert meta.run.device == "cpu" and meta.task_sampler.params["n_way"] == 3
    plain = speed.build_spec(device=cpu, quick=True, compile=True, recipe="clswgan")
    assert "adaptation" not in plain.trainer.params and plain.trainer.params["compile"] is True
    assert plain.modulator.params == {}  # the quick modulator width is for modulators that take one
    with pytest.raises(ConfigError, match=r"unknown parameter 'batch_size'"):
        speed.build_spec(device=cpu, quick=True, overrides=["trainer.batch_size=4"])


# -- trainer.compile's refusals (compiling itself is checked on the GPU: pytest -m cuda) -----------


@pytest.mark.parametrize(
    ("recipe", "overrides", "message"),
    [
        ("amaz", ["trainer.first_order=false"], r"trainer.compile=true needs trainer.first_order=true"),
        (
            "amaz",
            ["trainer.adaptation=task"],
            r"trainer.compile=true needs trainer.adaptation=batch, got 'task'",
        ),
        ("clswgan", [], r"the 'plain' trainer does not compile its networks"),
    ],
)
def test_trainer_compile_refuses_what_it_cannot_compile(
    speed, digits, registries, recipe, overrides, message
):
    cpu = torch.device("cpu")
    spec = speed.build_spec(device=cpu, quick=True, compile=True, overrides=overrides, recipe=recipe)
    with pytest.raises(ConfigError, match=message):
        registries.trainer.get(spec.trainer.name)(
            assembly=speed.build_networks(spec, registries, digits, cpu, 0),
            data=digits,
            spec=spec,
            registries=registries,
            device=cpu,
        )


# -- helpers ------------------------------------------------------------------------------------------


def test_flop_counter_counts_matrix_products_through_the_gradient_penalty(benchlib):
    a, b = torch.randn(4, 5), torch.randn(5, 3)
    assert benchlib.count_flops(lambda: a @ b) == 2 * 4 * 5 * 3

    w = torch.randn(5, 1, requires_grad=True)

    def penalty() -> None:  # the pattern that breaks FlopCounterMode's module tracker
        from modgen.functional.losses import gradient_penalty

        gp = gradient_penalty(lambda x, _: (x @ w).squeeze(-1), a, a, a[:, :1], epsilon=torch.rand(4, 1))
        torch.autograd.grad(gp, [w])

    assert benchlib.count_flops(penalty) > 0


def test_peak_memory_and_gpu_peaks(benchlib):
    with benchlib.PeakMemory(torch.device("cpu")) as pm:
        torch.ones(1 << 20).sum()
    assert pm.peak_bytes is None or pm.peak_bytes > 1 << 20
    assert benchlib.gpu_peak_tflops("NVIDIA H100 80GB HBM3")["bf16"] == pytest.approx(989.4)
    assert benchlib.gpu_peak_tflops("NVIDIA H100 PCIe")["tf32"] == pytest.approx(378.0)
    assert benchlib.gpu_peak_tflops("NVIDIA H200")["fp32"] == pytest.approx(66.9)
    assert benchlib.gpu_peak_tflops("Some Future GPU") is None


def test_gpu_script_is_valid_bash_and_runs_every_check():
    script = BENCH / "gpu.sh"
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    text = script.read_text()
    for part in ("pytest -m cuda", "benchmarks/speed.py", "benchmarks/accuracy.py", "$OUT"):
        assert part in text


# -- accuracy.py ----------------------------------------------------------------------------------


def test_accuracy_quick_writes_its_block_into_the_page_once(accuracy, tmp_path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n## Results\n\nintro\n", encoding="utf-8")
    args = [
        "--quick",
        "--recipes",
        "amaz",
        "--datasets",
        "digits",
        "--doc",
        str(doc),
        "--json-dir",
        str(tmp_path),
    ]
    accuracy.main(args)
    accuracy.main(args)
    text = doc.read_text()
    assert (
        text.count("<!-- accuracy:digits:begin -->") == 1 and text.count("<!-- accuracy:digits:end -->") == 1
    )
    assert text.startswith("# Benchmarks\n\n## Results\n\nintro\n")
    assert "| amaz | svm |" in text and "QUICK settings" in text
    saved = json.loads((tmp_path / "accuracy-digits.json").read_text())
    (rec,) = saved["datasets"][0]["recipes"]
    assert rec["episodes"] == 3 and 0.0 <= rec["aggregate"]["zsl"]["svm"]["mean"] <= 100.0
    assert rec["aggregate"]["selected_on"] == "none" and rec["aggregate"]["eval_seeds"] == 1
    run = saved["datasets"][0]["recipes"][0]["runs"][0]
    assert run["name"] == "amaz" and run["dataset"] == "digits" and run["seed"] == 0


def test_accuracy_reports_a_diverged_seed_and_goes_on(accuracy, tmp_path, monkeypatch):
    import modgen.train.loop
    from modgen.errors import TrainingDivergedError

    def diverge(spec, *args, **kwargs):
        raise TrainingDivergedError(f"Loss 'loss/ad' became inf by episode 2 of run 'r{spec.name}'; kept")

    monkeypatch.setattr(modgen.train.loop, "train", diverge)
    result = accuracy.main(
        ["--quick", "--recipes", "amaz,zsml", "--datasets", "digits", "--no-doc", "--json-dir", str(tmp_path)]
    )
    recs = result["datasets"][0]["recipes"]
    assert [r["aggregate"] for r in recs] == [None, None] and recs[1]["diverged"][0]["seed"] == 0
    md = result["datasets"][0]["markdown"]
    assert "| zsml | - | diverged |" in md and "zsml: seed 0 diverged (Loss 'loss/ad' became inf" in md


def test_doc_block_with_one_marker_is_an_error(benchlib, tmp_path):
    doc = tmp_path / "b.md"
    doc.write_text("x\n<!-- accuracy:digits:begin -->\nold\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"found only the begin marker of 'accuracy:digits'"):
        benchlib.write_doc_block(doc, "accuracy:digits", "new")
    with pytest.raises(DataError, match=r"no such file; give the benchmarks page or --no-doc"):
        benchlib.write_doc_block(tmp_path / "missing.md", "accuracy:digits", "new")


def test_accuracy_rejects_unknown_recipes_and_lone_xlsa17(accuracy, capsys):
    with pytest.raises(UnknownComponentError, match=r"amazz"):
        accuracy.main(["--quick", "--no-doc", "--recipes", "amazz", "--datasets", "digits"])
    with pytest.raises(SystemExit):
        accuracy.main(["--xlsa17", "/nowhere/AWA2"])
    assert "--xlsa17 and --dataset go together" in capsys.readouterr().err


# -- on a GPU -------------------------------------------------------------------------------------------


@pytest.mark.cuda
@pytest.mark.parametrize("adaptation", ["batch", "task"])
def test_cuda_episode_has_no_host_synchronisation(speed, digits, registries, adaptation):
    cuda = torch.device("cuda")
    spec = speed.build_spec(device=cuda, quick=True, adaptation=adaptation)
    trainer = registries.trainer.get("meta")(
        assembly=speed.build_networks(spec, registries, digits, cuda, 0),
        data=digits,
        spec=spec,
        registries=registries,
        device=cuda,
    )
    streams = RandomStreams.from_seed(0, cuda)
    trainer.step(streams)  # the first step allocates optimiser state
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        parts = trainer.step(streams)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert all(v.device.type == "cuda" for v in parts.values())


@pytest.mark.cuda
def test_cuda_compiled_trainer_matches_eager(speed, digits, registries):
    cuda = torch.device("cuda")
    grads = []
    for compiled in (False, True):
        spec = speed.build_spec(device=cuda, quick=True, compile=compiled, overrides=NO_DROPOUT)
        trainer = registries.trainer.get("meta")(
            assembly=speed.build_networks(spec, registries, digits, cuda, 0),
            data=digits,
            spec=spec,
            registries=registries,
            device=cuda,
        )
        trainer.compute_grads(RandomStreams.from_seed(0, cuda))
        grads.append({k: p.grad for k, p in trainer.params.items() if p.grad is not None})
    scale = max(float(g.abs().max()) for g in grads[0].values())
    assert grads[0].keys() == grads[1].keys()
    for k in grads[0]:
        torch.testing.assert_close(grads[1][k], grads[0][k], rtol=1e-3, atol=1e-5 * scale, msg=k)


@pytest.mark.cuda
def test_cuda_speed_quick_reports_the_card(speed, tmp_path):
    result = speed.main(
        [
            "--quick",
            "--device",
            "cuda",
            "--xlsa17",
            "",
            "--datasets",
            "AWA2",
            "--no-svc",
            "--json",
            str(tmp_path / "s.json"),
        ]
    )
    assert result["machine"]["cuda_device"] and result["datasets"][0]["runs"][0]["peak_bytes"] > 0


#: science.py at smoke-test size, its --smoke: tiny networks, 2 episodes, one evaluation seed, the
#: SVM only (benchlib.SMOKE_EVALUATION).
QUICK_SCIENCE = ["--smoke"]


def test_science_quick_gives_paired_differences_and_the_floor():
    science = _load("science")

    out = science.main(
        [
            "--dataset",
            "digits",
            "--split",
            "val",
            "--seeds",
            "2",
            "--arms",
            "zsml,amaz-gc=amaz:trainer.modulator_loss=gc",
            "--baseline",
            "zsml",
            *QUICK_SCIENCE,
            "--set",
            "data.options.val_classes=[3, 8]",
        ]
    )
    assert set(out["arms"]) == {"zsml", "amaz-gc"} and all(len(a["runs"]) == 2 for a in out["arms"].values())
    assert "paired difference from zsml" in out["markdown"] and "Closed-form floor" in out["markdown"]
    assert [r["seed"] for r in out["arms"]["amaz-gc"]["runs"]] == [0, 1]


def test_science_splits_and_the_positive_control_at_smoke_size():
    """--splits runs (split x seed), analysed with the hierarchical interval; --control gives the
    detection curve, its arms sharing one trained model per (split, seed); --jobs spreads the
    seeds over worker processes."""
    science = _load("science")
    out = science.main(
        [
            "--smoke",
            "--splits",
            "2",
            "--control",
            "0,100",
            "--set",
            "evaluation.zsl_samples=20",
            "--jobs",
            "2",
        ]
    )
    assert out["splits"] == [0, 1] and out["seeds"] == [0, 1] and out["primary"] == "zsl:svm"
    assert out["baseline"] == "p0" and set(out["arms"]) == {"p0", "p100"}
    runs = out["arms"]["p100"]["runs"]
    # two worker processes, one seed each; merged in (split, seed) order as one process gives
    assert [(r["preprocessing"].get("class_split", 0), r["seed"]) for r in runs] == [
        (0, 0),
        (0, 1),
        (1, 0),
        (1, 1),
    ]
    assert all("real_unseen" in r["preprocessing"] for r in runs)
    assert out["differences"]["p100"]["zsl (svm)"]["method"] == "hierarchical bootstrap"
    assert out["differences"]["p100"]["zsl (svm)"]["splits"] == 2
    assert out["mde"]["p100"]["zsl (svm)"] >= 0 and out["verdict"]["p100"]["zsl (svm)"] == "difference"
    (point,) = out["control"]
    assert point["percent"] == 100 and point["mean"] > 10  # real features of the unseen classes help
    assert "| arm | measure | role | splits | seeds |" in out["markdown"]
    assert "Detection curve of the positive control" in out["markdown"] and "| 100 |" in out["markdown"]
    assert "**primary**" in out["markdown"] and "secondary" in out["markdown"]
    assert set(out["floors"]) == {"0", "1"} and "over the 2 class splits" in out["markdown"]


def test_science_reanalyse_adds_split_count_mde_and_verdict_to_a_committed_result():
    """--reanalyse recomputes the statistics from the per-seed values a committed JSON stores
    (--no-doc: nothing is written); a single-split file gets split count 1 and keeps its run commit."""
    science = _load("science")
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "science-digits-test.json"
    before = json.loads(path.read_text())
    out = science.main(["--reanalyse", str(path), "--no-doc", "--margin", "3"])
    assert json.loads(path.read_text()) == before  # nothing written
    assert out["splits"] == [0] and out["seeds"] == before["seeds"] and out["commit"] == before["commit"]
    assert (
        out["reanalysis"]["command"] == f"python benchmarks/science.py --reanalyse {path} --margin 3 --no-doc"
    )
    assert out["margin"] == 3.0
    assert set(out["mde"]) == set(before["arms"]) - {before["baseline"]}
    assert out["mde"]["amaz"]["zsl (softmax)"] > 5
    row = next(line for line in out["markdown"].splitlines() if line.startswith("| amaz | zsl (softmax) |"))
    cells = [c.strip() for c in row.split("|")]
    assert (
        cells[4] == "1"
        and cells[5] == "10"
        and cells[9].startswith(("difference", "equivalent", "inconclusive"))
    )
    assert "Statistics recomputed at commit" in out["markdown"]


def test_science_retable_swaps_the_baseline_of_a_saved_result(tmp_path):
    """Any arm of a saved result can be the baseline after the fact; swapping negates the difference."""
    science = _load("science")
    saved = science.main(
        [
            "--dataset",
            "digits",
            "--split",
            "val",
            "--seeds",
            "2",
            "--arms",
            "zsml,amaz",
            "--baseline",
            "zsml",
            *QUICK_SCIENCE,
        ]
    )
    path = tmp_path / "saved.json"
    path.write_text(json.dumps(saved))
    swapped = science.main(["--from", str(path), "--baseline", "amaz", "--classifiers", "svm"])

    def diff(markdown: str, arm: str) -> str:
        lines = markdown.splitlines()
        header = next(line for line in lines if line.startswith("| arm |")).split("|")
        column = next(i for i, h in enumerate(header) if "paired difference" in h)
        row = next(line for line in lines if line.startswith(f"| {arm} | zsl (svm) |"))
        return row.split("|")[column].strip()

    before, after = diff(saved["markdown"], "amaz"), diff(swapped["markdown"], "zsml")
    assert "paired difference from amaz" in swapped["markdown"] and diff(swapped["markdown"], "amaz") == "-"
    lo, hi = (float(x) for x in before.split("[")[1].split("]")[0].split(","))
    lo2, hi2 = (float(x) for x in after.split("[")[1].split("]")[0].split(","))
    assert (lo2, hi2) == (-hi, -lo) and float(after.split()[0]) == -float(before.split()[0])
    with pytest.raises(SystemExit, match="not an arm"):
        science.main(["--from", str(path), "--baseline", "clswgan"])


def test_committed_results_come_from_clean_commits():
    """A committed table must be made by a committed command from a clean commit it names."""
    root = Path(__file__).resolve().parents[1]
    dirty = [
        str(p.relative_to(root))
        for p in (root / "benchmarks" / "results").glob("*.json")
        if "+dirty" in p.read_text(encoding="utf-8")
    ]
    page = (root / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    assert not dirty, f"results recorded from a dirty tree: {dirty}"
    assert "+dirty" not in page, "docs/benchmarks.md holds a table measured on a dirty tree"


def test_science_fit_reports_each_seed_against_the_ceiling_and_chance():
    """--fit reads a committed results JSON (no training): per arm, the seen classes' nearest
    synthetic mean beside the real means' ceiling, and the unseen classes against chance + 15."""

    science = _load("science")
    path = Path(__file__).resolve().parents[1] / "benchmarks/results/science-digits-imagenet-test.json"
    payload = json.loads(path.read_text())
    out = science.main(["--fit", str(path)])
    text = out["fit"][0]
    runs = payload["arms"]["zsml"]["runs"]
    seen = [round(r["quality"]["ncm_cosine_seen"], 1) for r in runs]
    assert f"NCM seen {seen}" in text
    real = sum(r["quality"]["ncm_cosine_seen_real"] for r in runs) / len(runs)
    assert f"real means {real:.1f}" in text
    unseen = [r["quality"]["ncm_cosine_unseen"] for r in runs]
    above = sum(u >= 100 / 3 + 15 for u in unseen)
    assert f"chance 33.3; seeds at or above chance + 15: {above} of {len(unseen)}" in text
    assert text.count("diverged 0") == len(payload["arms"])
