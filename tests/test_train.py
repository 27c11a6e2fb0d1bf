"""Training: every recipe on digits, resume equivalence, the divergence guard, checkpoints,
first- vs second-order meta-gradients."""

from __future__ import annotations

import json

import pytest
import torch

from modgen.config import apply_overrides
from modgen.errors import CheckpointError, TrainingDivergedError
from modgen.functional.maml import inner_grads, sgd_update
from modgen.pipeline import load_run, resolve_spec, train_or_load
from modgen.plugins import get_registries
from modgen.rundir import RunDir
from modgen.testing.presets import tiny as tiny_sizes
from modgen.train.base import RandomStreams
from modgen.train.checkpoint import load_checkpoint
from modgen.train.loop import train

TINY = ["run.log_every=1", "run.checkpoint_every=2", 'run.device="cpu"']
PLAIN = ["trainer.batch_size=8", "trainer.critic_iters=2"]
NO_DROPOUT = [
    f"{k}.dropout=0.0" for k in ("generator", "modulator", "critic", "aux_classifier", "attribute_decoder")
]


@pytest.fixture(scope="module")
def digits():
    from modgen.data.digits import load_digits_zsl

    return load_digits_zsl()


def tiny(recipe: str, *extra: str, episodes: int = 3):
    regs = get_registries(entry_points=False)
    plain = PLAIN if regs.recipe.get(recipe)().trainer.name == "plain" else []
    spec = tiny_sizes(resolve_spec(regs, recipe, dataset="digits"), regs)
    return apply_overrides(spec, [*TINY, *plain, f"trainer.episodes={episodes}", *extra])


def params_of(asm) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in asm.state_dict().items()}


@pytest.mark.parametrize("recipe", ["amaz", "zsml", "clswgan", "amaz-t4-softmax"])
def test_each_recipe_trains_with_finite_logged_losses(recipe, digits, registries, tmp_path):
    out = train_or_load(tiny(recipe), registries, tmp_path / recipe, digits, device=torch.device("cpu"))
    run = RunDir(out.run.root)
    records = run.read_metrics()
    assert [r["episode"] for r in records] == [1, 2, 3]
    for rec in records:
        for key in ("loss/d", "loss/adv", "loss/attr", "loss/cls", "loss/ad", "seconds_per_episode"):
            assert key in rec and rec[key] == rec[key] and abs(rec[key]) < float("inf")
    assert run.config.is_file() and run.checkpoint.is_file()
    summary = json.loads(run.summary.read_text())
    assert summary["episodes"] == 3 and summary["recipe"] == recipe
    assert all("time" in r for r in records)
    # the run folder reloads to the trained networks
    fresh = params_of(load_run(out.run.root, registries, device="cpu", data=digits).assembly)
    trained = params_of(out.assembly)
    assert fresh.keys() == trained.keys() and all(torch.equal(fresh[k], trained[k]) for k in fresh)


def test_training_changes_parameters_and_is_deterministic(digits, registries, tmp_path):
    a = train(tiny("amaz", episodes=2), registries, data=digits, out=tmp_path / "a", device="cpu")
    b = train(tiny("amaz", episodes=2), registries, data=digits, out=tmp_path / "b", device="cpu")
    pa, pb = params_of(a.assembly), params_of(b.assembly)
    assert all(torch.equal(pa[k], pb[k]) for k in pa)
    c = train(
        tiny("amaz", "run.seed=1", episodes=2), registries, data=digits, out=tmp_path / "c", device="cpu"
    )
    assert any(not torch.equal(pa[k], params_of(c.assembly)[k]) for k in pa)


@pytest.mark.parametrize("recipe", ["amaz", "clswgan"])
def test_resume_equals_uninterrupted(recipe, digits, registries, tmp_path):
    straight = train(
        tiny(recipe, episodes=4), registries, data=digits, out=tmp_path / "straight", device="cpu"
    )
    train(tiny(recipe, episodes=2), registries, data=digits, out=tmp_path / "split", device="cpu")
    resumed = train(
        tiny(recipe, episodes=4), registries, data=digits, out=tmp_path / "split", device="cpu", resume=True
    )
    ps, pr = params_of(straight.assembly), params_of(resumed.assembly)
    assert ps.keys() == pr.keys()
    for k in ps:
        torch.testing.assert_close(pr[k], ps[k], rtol=0, atol=0, msg=k)
    eps = [r["episode"] for r in RunDir(tmp_path / "split").read_metrics()]
    assert eps == [1, 2, 3, 4]


def test_divergence_guard_names_the_loss_and_keeps_checkpoint(digits, registries, tmp_path, monkeypatch):
    from modgen.train.meta import MetaTrainer

    original = MetaTrainer._query_losses
    calls = {"n": 0}

    def poisoned(self, p, qry):
        calls["n"] += 1
        l_d, l_ad, l_gc, parts = original(self, p, qry)
        if calls["n"] >= 3:
            parts = {**parts, "loss/ad": parts["loss/ad"] * float("nan")}
        return l_d, l_ad, l_gc, parts

    monkeypatch.setattr(MetaTrainer, "_query_losses", poisoned)
    with pytest.raises(
        TrainingDivergedError,
        match=r"loss 'loss/ad' \(= nan\) became non-finite by episode 3 .*episode 2\) is kept",
    ):
        train(tiny("amaz", episodes=6), registries, data=digits, out=tmp_path / "nan", device="cpu")
    ckpt = load_checkpoint(tmp_path / "nan" / "checkpoints" / "last.pt")
    assert ckpt["episode"] == 2
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values() if v.is_floating_point())


def test_corrupt_checkpoint_gives_clear_error(digits, registries, tmp_path):
    train(tiny("amaz", episodes=2), registries, data=digits, out=tmp_path / "r", device="cpu")
    path = tmp_path / "r" / "checkpoints" / "last.pt"
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match=r"last.pt' is corrupt or not a PyTorch file"):
        train(
            tiny("amaz", episodes=4), registries, data=digits, out=tmp_path / "r", device="cpu", resume=True
        )
    with pytest.raises(CheckpointError, match=r"does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_mismatched_checkpoint_gives_clear_error(digits, registries, tmp_path):
    train(tiny("amaz", episodes=2), registries, data=digits, out=tmp_path / "r", device="cpu")
    with pytest.raises(CheckpointError, match=r"different recipe configuration"):
        train(
            tiny("amaz", "generator.hidden=32", episodes=4),
            registries,
            data=digits,
            out=tmp_path / "r",
            device="cpu",
            resume=True,
        )


def test_checkpoint_is_written_atomically(digits, registries, tmp_path, monkeypatch):
    train(tiny("amaz", episodes=2), registries, data=digits, out=tmp_path / "r", device="cpu")
    path = tmp_path / "r" / "checkpoints" / "last.pt"
    good = path.read_bytes()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        train(
            tiny("amaz", episodes=4), registries, data=digits, out=tmp_path / "r", device="cpu", resume=True
        )
    assert path.read_bytes() == good
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]


def _one_episode_grads(spec, registries, data):
    from modgen.train.loop import build_for_data

    torch.manual_seed(0)
    asm = build_for_data(spec, registries, data, torch.device("cpu"))
    trainer = registries.trainer.get("meta")(
        assembly=asm, data=data, spec=spec, registries=registries, device="cpu"
    )
    trainer.compute_grads(RandomStreams.from_seed(0, "cpu"))
    return {k: p.grad.clone() for k, p in trainer.params.items() if p.grad is not None}


def test_task_adaptation_with_one_task_equals_batch_adaptation(digits, registries):
    """With one task, per-task (vmap + torch.func.grad) and per-batch (autograd) adaptation are
    the same computation: the meta-gradients agree to float precision. (Parameters after Adam
    steps are not compared: Adam turns float noise on near-zero gradients into full-size steps.)"""
    extra = [*NO_DROPOUT, "task_sampler.tasks=1"]
    ga = _one_episode_grads(tiny("amaz", *extra, "trainer.adaptation=batch"), registries, digits)
    gb = _one_episode_grads(tiny("amaz", *extra, "trainer.adaptation=task"), registries, digits)
    assert ga.keys() == gb.keys() and len(ga) > 10
    for k in ga:
        torch.testing.assert_close(gb[k], ga[k], rtol=1e-4, atol=1e-6, msg=k)


@pytest.mark.parametrize("adaptation", ["batch", "task"])
def test_second_order_trains_and_differs_from_first_order(adaptation, digits, registries, tmp_path):
    extra = [
        *NO_DROPOUT,
        f"trainer.adaptation={adaptation}",
        "trainer.alpha1=0.1",
        "trainer.alpha2=0.1",
        "trainer.alpha3=0.1",
    ]
    fo = train(tiny("amaz", *extra, episodes=1), registries, data=digits, out=tmp_path / "fo", device="cpu")
    so = train(
        tiny("amaz", *extra, "trainer.first_order=false", episodes=1),
        registries,
        data=digits,
        out=tmp_path / "so",
        device="cpu",
    )
    pf, ps = params_of(fo.assembly), params_of(so.assembly)
    assert all(torch.isfinite(v).all() for v in ps.values())
    assert any(not torch.allclose(pf[k], ps[k]) for k in pf)


@pytest.mark.parametrize("meta_grad", ["autograd", "func"])
def test_meta_gradient_of_a_quadratic_by_hand(meta_grad):
    """L_s(t) = (t - 1)^2, L_q(t) = (t - 3)^2, t' = t - lr * L_s'(t).

    Second order: dL_q(t')/dt = 2 (t' - 3) (1 - 2 lr); first order: 2 (t' - 3). The meta-gradient
    is taken with torch.autograd.grad or with torch.func.grad (inner_grads runs inside it).
    """
    t0, lr = 0.5, 0.1
    for first_order, factor in ((False, 1 - 2 * lr), (True, 1.0)):
        p = {"t": torch.tensor(t0, dtype=torch.float64, requires_grad=True)}

        def outer(q, first_order=first_order):
            g = inner_grads(lambda r: (r["t"] - 1) ** 2, q, ["t"], first_order=first_order)
            return (sgd_update(q, ["t"], g, lr)["t"] - 3) ** 2

        if meta_grad == "func":
            meta = torch.func.grad(lambda t: outer({"t": t}))(p["t"])
        else:
            (meta,) = torch.autograd.grad(outer(p), [p["t"]])
        t_adapted = t0 - lr * 2 * (t0 - 1)
        assert float(meta) == pytest.approx(2 * (t_adapted - 3) * factor, rel=1e-12)


def test_modulator_loss_gc_changes_only_the_modulator_gradient(digits, registries):
    """Eq. 8 (modulator_loss=gc): AP/AM learn from L_GC; the critic, the attribute decoder, G and C
    get exactly the gradients of the Algorithm 1 reading (L_AD) in the meta step."""
    extra = [*NO_DROPOUT, "task_sampler.tasks=1"]
    ad = _one_episode_grads(tiny("amaz", *extra, "trainer.modulator_loss=ad"), registries, digits)
    gc = _one_episode_grads(tiny("amaz", *extra, "trainer.modulator_loss=gc"), registries, digits)
    assert ad.keys() == gc.keys()
    mod = [k for k in ad if k.startswith("modulator.")]
    assert mod and any(not torch.allclose(ad[k], gc[k]) for k in mod)
    # the inner step differs (AP/AM adapt on L_GC), so the rest is compared where it cannot move:
    # the critic's and the decoder's inner updates do not depend on the modulator's inner step
    for k in ad:
        if k.startswith("critic."):
            torch.testing.assert_close(gc[k], ad[k], rtol=1e-4, atol=1e-6, msg=k)


def test_same_seed_gives_the_same_tasks_and_noise_to_every_recipe(digits, registries):
    """Paired comparisons: amaz and zsml with the same seed draw the same episodes and noise, and
    start from the same critic and generator weights (each network has its own init stream)."""
    from modgen.train.loop import build_for_data

    draws = {}
    for recipe in ("amaz", "zsml"):
        spec = tiny(recipe)
        asm = build_for_data(spec, registries, digits, torch.device("cpu"), seed=0)
        trainer = registries.trainer.get("meta")(
            assembly=asm, data=digits, spec=spec, registries=registries, device="cpu"
        )
        streams = RandomStreams.from_seed(spec.run.seed, "cpu")
        ep = trainer.sampler.sample(streams.tasks)
        sup, _ = trainer._episode_tensors(ep, streams.noise)
        weights = torch.cat(
            [p.detach().flatten() for p in (*asm.critic.parameters(), *asm.generator.parameters())]
        )
        draws[recipe] = (ep.support_y.clone(), ep.support_x.clone(), sup["z"].clone(), weights)
    for a, b in zip(draws["amaz"], draws["zsml"], strict=True):
        assert torch.equal(a, b)


def _adapted(spec, registries, data):
    """The parameters after one episode's fast adaptation, and the ones it started from."""
    from modgen.train.loop import build_for_data

    torch.manual_seed(0)
    asm = build_for_data(spec, registries, data, torch.device("cpu"))
    trainer = registries.trainer.get("meta")(
        assembly=asm, data=data, spec=spec, registries=registries, device="cpu"
    )
    streams = RandomStreams.from_seed(0, "cpu")
    sup, _ = trainer._episode_tensors(trainer.sampler.sample(streams.tasks), streams.noise)
    start = dict(trainer.params)
    return start, trainer._adapt(dict(start), sup)


def test_alpha0_recipe_makes_the_inner_step_the_identity_and_the_default_does_not(digits, registries):
    spec = tiny("amaz-alpha0")
    assert (spec.trainer.params["alpha1"], spec.trainer.params["alpha2"], spec.trainer.params["alpha3"]) == (
        0.0,
        0.0,
        0.0,
    )
    start, adapted = _adapted(spec, registries, digits)
    assert adapted.keys() == start.keys()
    for k in start:
        assert torch.equal(adapted[k], start[k]), k
    start, adapted = _adapted(tiny("amaz", "trainer.alpha1=0.1", "trainer.alpha3=0.1"), registries, digits)
    moved = [k for k in start if not torch.equal(adapted[k], start[k])]
    assert any(k.startswith("critic.") for k in moved) and any(k.startswith("generator.") for k in moved)
    start, adapted = _adapted(tiny("amaz"), registries, digits)
    assert any(not torch.equal(adapted[k], start[k]) for k in start)


def _modulator_grads(spec, registries, data):
    from modgen.train.loop import build_for_data

    torch.manual_seed(0)
    asm = build_for_data(spec, registries, data, torch.device("cpu"))
    trainer = registries.trainer.get("meta")(
        assembly=asm, data=data, spec=spec, registries=registries, device="cpu"
    )
    trainer.compute_grads(RandomStreams.from_seed(0, "cpu"))
    return asm, {
        k: (p.grad.abs().max().item() if p.grad is not None else 0.0)
        for k, p in trainer.params.items()
        if k.startswith("modulator.")
    }


def test_shift_heads_a_batch_norm_cancels_get_no_gradient_and_drop_removes_them(digits, registries):
    asm, keep = _modulator_grads(tiny("amaz"), registries, digits)
    assert asm.generator.bn_cancelled_shifts == [1, 2]
    dead = {k for k in keep if k.startswith(("modulator.b_heads.1.", "modulator.b_heads.2."))}
    assert len(dead) == 4 and all(keep[k] < 1e-6 for k in dead)
    assert all(v > 1e-5 for k, v in keep.items() if k not in dead)

    asm_drop, drop = _modulator_grads(tiny("amaz", "modulator.shift_before_bn=drop"), registries, digits)
    assert asm_drop.modulator.unshifted == (1, 2)
    assert set(drop) == set(keep) - dead  # the heads are absent...
    assert all(v > 1e-5 for v in drop.values())  # ...and every modulator parameter left is trained
    kept = asm.modulator.state_dict()
    for k, v in asm_drop.modulator.state_dict().items():  # the other heads start where "keep"'s do
        torch.testing.assert_close(v, kept[k], rtol=0, atol=0, msg=k)


def test_shift_before_bn_is_validated():
    from modgen.errors import ConfigError
    from modgen.nn import AttributeModulator

    with pytest.raises(ConfigError, match="shift_before_bn must be one of 'keep', 'drop', got 'cut'"):
        AttributeModulator(attr_dim=4, target_dims=[7, 16], hidden=8, shift_before_bn="cut")
    with pytest.raises(ConfigError, match=r"bn_cancelled_shifts must hold output indices 0\.\.1"):
        AttributeModulator(attr_dim=4, target_dims=[7, 16], hidden=8, bn_cancelled_shifts=[2])
