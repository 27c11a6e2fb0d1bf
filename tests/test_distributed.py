"""Data-parallel training on torch.distributed: torchrun's environment, task sharding, and
2-process gloo runs on CPU that must match the 1-process run of the same seed."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from modgen.data.digits import load_digits_zsl
from modgen.distributed import DistContext, current_context, read_env, setup_distributed
from modgen.errors import ConfigError
from modgen.pipeline import resolve_spec
from modgen.plugins import get_registries
from modgen.rundir import RunDir
from modgen.testing.presets import TINY_SIZES
from modgen.train.checkpoint import load_checkpoint
from modgen.train.loop import train

ROOT = Path(__file__).resolve().parents[1]

#: ``--set`` overrides every recipe takes: the tiny sizes (4 tasks, so 2 ranks get 2 each) ...
SHARED = [
    *(
        f"{section}.{key}={json.dumps(value)}"
        for section, params in TINY_SIZES.items()
        if section != "modulator"
        for key, value in params.items()
    ),
    "task_sampler.tasks=4",
    "run.log_every=1",
    "run.checkpoint_every=0",
    "run.device=cpu",
    # PARAM_ATOL below is reasoned for meta learning rates of 1e-4 (the digits preset uses 1e-3)
    "trainer.beta1=1e-4",
    "trainer.beta2=1e-4",
    "trainer.beta3=1e-4",
    # dropout draws from each process's global RNG; off, so only the task split differs
    *(f"{k}.dropout=0.0" for k in ("generator", "critic", "aux_classifier", "attribute_decoder")),
]
#: ... the attribute modulator's (amaz; the baselines' ``none`` modulator takes nothing) ...
MODULATED = [f"modulator.hidden={TINY_SIZES['modulator']['hidden']}", "modulator.dropout=0.0"]
#: ... and the plain trainer's (clswgan; the meta trainer rejects them).
PLAIN = ["trainer.batch_size=8", "trainer.critic_iters=2"]
#: What ``modgen train`` runs in the 2-rank job: amaz.
TINY = [*SHARED, *MODULATED]

#: After Adam, parameters whose true gradient is zero (e.g. a bias just before BatchNorm) move
#: by up to a learning rate times the ratio of two rounding errors, so parameters are compared
#: with this absolute tolerance; gradients and losses are compared far more tightly below.
PARAM_ATOL = 3e-4


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rank_env(rank: int, world: int, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        GLOO_SOCKET_IFNAME="lo",  # keep gloo's traffic on the loopback interface
        PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]),
        OMP_NUM_THREADS="1",
        CUDA_VISIBLE_DEVICES="",
    )
    return env


def _launch(argvs: list[list[str]], cwd: Path, timeout: float = 240) -> list[subprocess.CompletedProcess]:
    """Start one process per rank (as torchrun would, on 127.0.0.1) and wait for all of them."""
    port = _free_port()
    procs = [
        subprocess.Popen(
            [sys.executable, *argv],
            cwd=cwd,
            env=_rank_env(rank, len(argvs), port),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank, argv in enumerate(argvs)
    ]
    done = []
    try:
        for p in procs:
            out, _ = p.communicate(timeout=timeout)
            done.append(subprocess.CompletedProcess(p.args, p.returncode, out, None))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for i, d in enumerate(done):
        assert d.returncode == 0, f"rank {i} failed:\n{d.stdout[-4000:]}"
    return done


def _overrides(recipe: str) -> list[str]:
    return [*SHARED, *(PLAIN if recipe == "clswgan" else MODULATED)]


def _tiny(recipe: str = "amaz", *extra: str, episodes: int = 3):
    """The spec ``modgen train --dataset digits --episodes N --set ...`` resolves to."""
    regs = get_registries(entry_points=False)
    return resolve_spec(
        regs,
        recipe,
        dataset="digits",
        overrides=[*_overrides(recipe), f"trainer.episodes={episodes}", *extra],
    )


# ----------------------------------------------------------------------------------------------
# environment and the 1-rank context


def test_read_env_defaults_to_one_process_and_reads_torchrun_variables():
    assert read_env({}) == read_env({"WORLD_SIZE": ""})
    assert read_env({}).world_size == 1
    env = read_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"})
    assert (env.rank, env.world_size, env.local_rank) == (3, 4, 1)


@pytest.mark.parametrize(
    ("environ", "match"),
    [
        ({"WORLD_SIZE": "two"}, r"WORLD_SIZE='two': expected an integer >= 1"),
        ({"WORLD_SIZE": "0"}, r"WORLD_SIZE='0': expected an integer >= 1"),
        ({"WORLD_SIZE": "2", "RANK": "2"}, r"RANK='2': expected an integer in \[0, 2\)"),
        ({"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "-1"}, r"LOCAL_RANK='-1': expected an integer >= 0"),
    ],
)
def test_read_env_rejects_malformed_variables(environ, match):
    with pytest.raises(ConfigError, match=match):
        read_env(environ)


def test_setup_without_master_address_names_the_missing_variables():
    env = {"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0"}
    with pytest.raises(ConfigError, match=r"WORLD_SIZE=2 but MASTER_ADDR and MASTER_PORT is not set"):
        setup_distributed(torch.device("cpu"), environ=env)


def test_one_process_context_is_the_identity():
    ctx, device = setup_distributed(torch.device("cpu"), environ={})
    assert ctx == DistContext() == current_context() and ctx.is_main and not ctx.is_distributed
    assert device == torch.device("cpu")
    tensors = {"x": torch.arange(6.0).reshape(3, 2)}
    assert ctx.shard_tasks(tensors) is tensors
    grads = [torch.ones(2)]
    assert ctx.all_reduce_inner(grads, differentiable=True) is grads
    p = torch.nn.Parameter(torch.ones(2))
    p.grad = torch.full((2,), 3.0)
    ctx.average_grads([p])
    assert torch.equal(p.grad, torch.full((2,), 3.0))


def test_each_rank_draws_its_own_dropout_stream_determined_by_the_episode_generator():
    def draws(rank: int, world: int, seed: int) -> torch.Tensor:
        with torch.random.fork_rng(devices=[]):
            DistContext(rank=rank, world_size=world).seed_rank_rng(torch.Generator().manual_seed(seed))
            return torch.rand(4)

    assert torch.equal(draws(1, 2, 0), draws(1, 2, 0))  # reproducible, hence resumable
    assert not torch.equal(draws(0, 2, 0), draws(1, 2, 0))  # ranks differ
    assert not torch.equal(draws(1, 2, 0), draws(1, 2, 1))  # episodes differ
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(5)
        DistContext().seed_rank_rng(torch.Generator().manual_seed(0))  # 1 rank: untouched
        untouched = torch.rand(4)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(5)
        assert torch.equal(untouched, torch.rand(4))


@given(world=st.integers(1, 6), per_rank=st.integers(1, 5))
def test_task_slices_are_contiguous_equal_and_cover_every_task(world, per_rank):
    total = world * per_rank
    covered = []
    for rank in range(world):
        sl = DistContext(rank=rank, world_size=world).task_slice(total, "task_sampler.tasks")
        covered += list(range(total))[sl]
        assert sl.stop - sl.start == per_rank
    assert covered == list(range(total))


def test_tasks_not_divisible_by_processes_is_a_config_error():
    ctx = DistContext(rank=1, world_size=3)
    with pytest.raises(
        ConfigError, match=r"task_sampler.tasks = 4 cannot be split evenly across 3 processes"
    ):
        ctx.task_slice(4, "task_sampler.tasks")
    with pytest.raises(ConfigError, match=r"must be a multiple of 3 \(e.g. 3, 6, 9, 12\)"):
        ctx.shard_tasks({"x": torch.zeros(4, 2)})
    assert ctx.shard_tasks({"x": torch.arange(6)})["x"].tolist() == [2, 3]


def test_trainers_check_their_share_of_the_work_against_the_processes_when_built(registries, monkeypatch):
    from modgen.data.digits import load_digits_zsl
    from modgen.train.loop import build_for_data

    # a 3-rank context without a process group: only the check runs, no collective
    three = DistContext(rank=0, world_size=3)
    monkeypatch.setattr(DistContext, "broadcast_module", lambda self, module: None)
    data = load_digits_zsl()
    for recipe, match in (
        ("amaz", r"task_sampler.tasks = 4 cannot be split evenly across 3 processes"),
        ("clswgan", r"trainer.batch_size = 8 cannot be split evenly across 3 processes"),
    ):
        spec = _tiny(recipe)
        asm = build_for_data(spec, registries, data, torch.device("cpu"))
        cls = registries.trainer.get(spec.trainer.name)
        with pytest.raises(ConfigError, match=match):
            cls(assembly=asm, data=data, spec=spec, registries=registries, device="cpu", dist=three)
        # the same trainer in a 2-rank context splits the work evenly
        two = DistContext(rank=1, world_size=2)
        assert (
            cls(assembly=asm, data=data, spec=spec, registries=registries, device="cpu", dist=two).dist is two
        )


# ----------------------------------------------------------------------------------------------
# 2-process gloo runs on CPU: one job per module (process start-up dominates the cost)

#: Run by every rank: ``modgen train`` as torchrun would start it, then the gradients of one
#: episode and two steps of each trainer kind; imported by the test for the 1-process values.
_WORKER = textwrap.dedent(
    """
    import sys

    import torch

    TINY = {tiny!r}
    PLAIN = {plain!r}
    CASES = {{
        "batch-first-order": ("amaz", TINY),
        "batch-second-order": ("amaz", [*TINY, "trainer.first_order=false"]),
        "task-second-order": ("amaz", [*TINY, 'trainer.adaptation="task"', "trainer.first_order=false"]),
        "plain": ("clswgan", PLAIN),
    }}


    def cases(steps=2):
        from modgen.data.digits import load_digits_zsl
        from modgen.distributed import setup_distributed
        from modgen.pipeline import resolve_spec
        from modgen.plugins import get_registries
        from modgen.train.base import RandomStreams
        from modgen.train.loop import build_for_data

        ctx, device = setup_distributed(torch.device("cpu"))
        regs = get_registries(entry_points=False)
        data = load_digits_zsl()
        result = {{}}
        for name, (recipe, overrides) in CASES.items():
            spec = resolve_spec(regs, recipe, dataset="digits", overrides=overrides)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)  # dropout (off here) draws from the global RNG
                asm = build_for_data(spec, regs, data, device, seed=0)
            cls = regs.trainer.get(spec.trainer.name)
            trainer = cls(assembly=asm, data=data, spec=spec, registries=regs, device=device, dist=ctx)
            streams = RandomStreams.from_seed(0, device)
            rec = {{}}
            if recipe != "clswgan":
                parts = trainer.compute_grads(streams)
                trainer.dist.average_grads(trainer.params.values())
                parts = trainer.dist.average_scalars(parts)
                rec["parts"] = {{k: float(v.detach()) for k, v in parts.items()}}
                rec["grads"] = {{k: p.grad.clone() for k, p in trainer.params.items() if p.grad is not None}}
                for p in trainer.params.values():
                    p.grad = None
            for _ in range(steps):
                trainer.step(streams)
            flat = torch.cat([p.detach().reshape(-1) for p in trainer.params.values()])
            if ctx.is_distributed:
                import torch.distributed as dist

                every = [torch.empty_like(flat) for _ in range(ctx.world_size)]
                dist.all_gather(every, flat)
                rec["rank_spread"] = max(float((e - every[0]).abs().max()) for e in every)
            result[name] = rec
        return ctx, result


    if __name__ == "__main__":
        from modgen.cli import main

        out, grads_file = sys.argv[1], sys.argv[2]
        args = ["--quiet", "train", "--dataset", "digits", "--no-eval", "--episodes", "3", "--out", out]
        for item in TINY:
            args += ["--set", item]
        try:
            main(args)
        except SystemExit as err:
            if err.code:
                raise
        ctx, result = cases()
        if ctx.is_main:
            torch.save(result, grads_file)
    """
)


@pytest.fixture(scope="module")
def two_rank_job(tmp_path_factory):
    """A 2-rank gloo job: ``modgen train`` (3 episodes), then the worker's cases."""
    root = tmp_path_factory.mktemp("two-ranks")
    worker = root / "worker.py"
    worker.write_text(_WORKER.format(tiny=TINY, plain=[*SHARED, *PLAIN]), encoding="utf-8")
    r0, r1 = root / "rank0", root / "rank1"
    argv = [[str(worker), str(r), str(root / f"grads{i}.pt")] for i, r in enumerate((r0, r1))]
    _launch(argv, cwd=root)
    run = RunDir(r0)
    return {
        "root": root,
        "worker": worker,
        "rank0": r0,
        "rank1": r1,
        "written": sorted(p.name for p in root.iterdir()),
        "model": _model(r0),
        "metrics": run.read_metrics(),
        "summary": run.summary.read_text(encoding="utf-8"),
        "grads": torch.load(root / "grads0.pt", weights_only=False),
    }


_BN_BUFFERS = ("running_mean", "running_var", "calibrated")


def _model(run: Path) -> dict[str, torch.Tensor]:
    """The trained parameters (BatchNorm running statistics are derived from them: see _buffers)."""
    return {
        k: v
        for k, v in load_checkpoint(RunDir(run).checkpoint)["model"].items()
        if not k.endswith(_BN_BUFFERS)
    }


def _buffers(run: Path) -> dict[str, torch.Tensor]:
    return {
        k: v for k, v in load_checkpoint(RunDir(run).checkpoint)["model"].items() if k.endswith(_BN_BUFFERS)
    }


def _diffs(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> tuple[float, float]:
    """The largest and the mean absolute difference over every parameter."""
    assert a.keys() == b.keys()
    flat = torch.cat([(a[k].double() - b[k].double()).abs().reshape(-1) for k in a])
    return float(flat.max()), float(flat.mean())


def test_two_process_run_matches_one_process_run_and_only_rank0_writes(two_rank_job, registries, tmp_path):
    job = two_rank_job
    # rank 1 was given its own --out and its own grads file: it must have written neither
    assert not job["rank1"].exists() and "grads1.pt" not in job["written"]
    assert sorted(p.name for p in job["rank0"].iterdir()) == [
        ".lock",
        ".manifest",
        "checkpoints",
        "config.toml",
        "metrics.jsonl",
        "provenance.json",
        "summary.json",
    ]  # --no-eval: no results
    assert '"world_size": 2' in job["summary"]
    assert json.loads((job["rank0"] / "provenance.json").read_text())["state"] == "finished"

    ref = train(_tiny(episodes=3), registries, data=load_digits_zsl(), out=tmp_path / "single", device="cpu")
    ref_model = {
        k: v.detach().clone() for k, v in ref.assembly.state_dict().items() if not k.endswith(_BN_BUFFERS)
    }
    largest, mean = _diffs(job["model"], ref_model)
    assert largest < PARAM_ATOL and mean < 1e-5
    # BatchNorm running statistics are calibrated from those parameters on the same episodes
    ref_buffers = {k: v for k, v in ref.assembly.state_dict().items() if k.endswith(_BN_BUFFERS)}
    got_buffers = _buffers(job["rank0"])
    assert got_buffers.keys() == ref_buffers.keys() and ref_buffers
    for k, v in ref_buffers.items():
        torch.testing.assert_close(got_buffers[k], v, rtol=1e-2, atol=1e-2, msg=k)
    # the logged losses are the all-reduced means over every task: the 1-process values
    assert [m["episode"] for m in job["metrics"]] == [1, 2, 3]
    for got, want in zip(job["metrics"], RunDir(tmp_path / "single").read_metrics(), strict=True):
        for key in ("loss/d", "loss/gc", "loss/ad", "loss/cls"):
            assert got[key] == pytest.approx(want[key], rel=1e-4, abs=1e-5)


def test_resume_of_a_two_process_run_matches_the_one_process_run(two_rank_job, registries, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(two_rank_job["rank0"], run)
    resume = ["-m", "modgen", "--quiet", "train", "--resume", str(run), "--episodes", "5", "--no-eval"]
    _launch([resume, resume], cwd=tmp_path)  # every rank loads rank 0's checkpoint
    assert [m["episode"] for m in RunDir(run).read_metrics()] == [1, 2, 3, 4, 5]

    single = tmp_path / "single"
    train(_tiny(episodes=3), registries, data=load_digits_zsl(), out=single, device="cpu")
    train(_tiny(episodes=5), registries, data=load_digits_zsl(), out=single, device="cpu", resume=True)
    resumed, ref = _model(run), _model(single)
    largest, mean = _diffs(resumed, ref)
    moved_largest, moved_mean = _diffs(resumed, two_rank_job["model"])
    assert largest < PARAM_ATOL and mean < 1e-5
    assert moved_mean > 100 * mean  # two more episodes moved the parameters far beyond the tolerance


def test_two_process_gradients_match_one_process_ones(two_rank_job, monkeypatch):
    import importlib.util

    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(key, raising=False)
    spec = importlib.util.spec_from_file_location("modgen_dist_worker", two_rank_job["worker"])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    ctx, one = module.cases(steps=0)  # the same gradients in this (1-process) interpreter
    assert not ctx.is_distributed
    two = two_rank_job["grads"]
    for case in ("batch-first-order", "batch-second-order", "task-second-order"):
        g2, g1 = two[case]["grads"], one[case]["grads"]
        assert g2.keys() == g1.keys() and len(g1) > 0
        for k in g1:
            assert float((g2[k] - g1[k]).norm()) <= 1e-4 * float(g1[k].norm()) + 1e-7, (case, k)
        for k, v in one[case]["parts"].items():
            assert two[case]["parts"][k] == pytest.approx(v, rel=1e-5, abs=1e-6), (case, k)
    # every trainer, the plain one too, keeps the ranks' parameters identical
    assert {case: two[case]["rank_spread"] for case in two} == dict.fromkeys(two, 0.0)
