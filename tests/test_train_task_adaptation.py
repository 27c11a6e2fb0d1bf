"""Per-task adaptation (trainer.adaptation=task): the factored path computes what every task's own
adapted copy of every parameter computes (the former vmap path, tests/vmap_reference.py)."""

from __future__ import annotations

import pytest
import torch
from test_train import NO_DROPOUT, tiny
from vmap_reference import VmapTaskTrainer

from modgen.functional.lowrank import TaskParameter
from modgen.train.base import RandomStreams
from modgen.train.loop import build_for_data

# Inner steps large enough that adaptation changes the meta-gradients well beyond the tolerance.
ALPHAS = ["trainer.alpha1=0.05", "trainer.alpha2=0.05", "trainer.alpha3=0.05"]


@pytest.fixture(scope="module")
def digits():
    from modgen.data.digits import load_digits_zsl

    return load_digits_zsl()


def _episode(spec, registries, data, trainer_cls=None):
    """One episode's meta-gradients and loss parts (same weights, tasks, noise and dropout seed)."""
    asm = build_for_data(spec, registries, data, torch.device("cpu"), seed=0)
    cls = trainer_cls or registries.trainer.get("meta")
    trainer = cls(assembly=asm, data=data, spec=spec, registries=registries, device="cpu")
    torch.manual_seed(1)  # dropout
    parts = trainer.compute_grads(RandomStreams.from_seed(0, "cpu"))
    grads = {k: p.grad.clone() for k, p in trainer.params.items() if p.grad is not None}
    return grads, {k: v.detach().clone() for k, v in parts.items()}


def _assert_close(got, want, *, rtol=1e-4, atol_of_largest=1e-6):
    """Per tensor: relative tolerance, plus an absolute one at a fraction of the largest entry of
    all (some gradients are float noise around zero: FBD's BatchNorm shift, cancelled by the
    per-task statistics of the next FBD block)."""
    assert got.keys() == want.keys() and len(want) > 10
    scale = max(float(v.abs().max()) for v in want.values())
    for k in want:
        torch.testing.assert_close(got[k], want[k], rtol=rtol, atol=atol_of_largest * scale, msg=k)


def _largest_difference(a, b):
    return max(float((a[k] - b[k]).abs().max()) / max(float(b[k].abs().max()), 1e-30) for k in b)


@pytest.mark.parametrize("dropout", [False, True], ids=["dropout0", "dropout"])
@pytest.mark.parametrize("inner_steps", [1, 2])
@pytest.mark.parametrize("first_order", [True, False], ids=["first-order", "second-order"])
def test_factored_task_adaptation_equals_materialised_per_task_copies(
    first_order, inner_steps, dropout, digits, registries
):
    """Meta-gradients and loss parts of an episode of 3 tasks: factored path == vmap path."""
    extra = [
        *ALPHAS,
        *([] if dropout else NO_DROPOUT),
        "task_sampler.tasks=3",
        "trainer.adaptation=task",
        f"trainer.first_order={str(first_order).lower()}",
        f"trainer.inner_steps={inner_steps}",
    ]
    spec = tiny("amaz", *extra)
    got, got_parts = _episode(spec, registries, digits)
    want, want_parts = _episode(spec, registries, digits, VmapTaskTrainer)
    _assert_close(got, want)
    torch.testing.assert_close(got_parts, want_parts, rtol=1e-5, atol=1e-6)
    # the comparison can fail: batch adaptation of the same episode is far off
    batch, _ = _episode(tiny("amaz", *extra, "trainer.adaptation=batch"), registries, digits)
    assert _largest_difference(batch, want) > 1e-2


@pytest.mark.parametrize(
    ("recipe", "extra"),
    [
        ("amaz", ["trainer.modulator_loss=gc"]),  # the critic held fixed (detached) inside L_GC
        ("amaz", ["trainer.gp_lambda=0"]),  # no gradient penalty: the critic is factored too
        ("amaz", ["trainer.query_modulation=support", "trainer.real_anchor=false"]),
        ("zsml", []),  # no modulator
    ],
    ids=["modulator-loss-gc", "no-gradient-penalty", "support-modulation", "zsml"],
)
def test_factored_task_adaptation_equals_materialised_in_other_settings(recipe, extra, digits, registries):
    no_dropout = [k for k in NO_DROPOUT if recipe != "zsml" or not k.startswith("modulator.")]
    spec = tiny(
        recipe,
        *ALPHAS,
        *no_dropout,
        *extra,
        "task_sampler.tasks=3",
        "trainer.adaptation=task",
        "trainer.first_order=false",
    )
    got, got_parts = _episode(spec, registries, digits)
    want, want_parts = _episode(spec, registries, digits, VmapTaskTrainer)
    _assert_close(got, want)
    torch.testing.assert_close(got_parts, want_parts, rtol=1e-5, atol=1e-6)


def test_task_adaptation_keeps_linear_weights_as_low_rank_factors(digits, registries):
    """No per-task copy of a generator, modulator, C or AD weight: each adapted weight is the
    shared one plus one rank-m term per inner step (m = the rows the layer saw); the critic,
    differentiated through its input gradient (gradient penalty), and the small parameters are
    per task."""
    spec = tiny(
        "amaz", *NO_DROPOUT, "task_sampler.tasks=3", "trainer.adaptation=task", "trainer.inner_steps=2"
    )
    asm = build_for_data(spec, registries, digits, torch.device("cpu"), seed=0)
    trainer = registries.trainer.get("meta")(
        assembly=asm, data=digits, spec=spec, registries=registries, device="cpu"
    )
    ep = trainer.sampler.sample(RandomStreams.from_seed(0, "cpu").tasks)
    sup, _ = trainer._episode_tensors(ep, torch.Generator().manual_seed(0))
    p = trainer._per_task(dict(trainer.params), tasks=3)
    adapted = trainer._adapt(p, sup)
    assert adapted.keys() == trainer.params.keys()
    for k, v in adapted.items():
        assert isinstance(v, TaskParameter) and v.tasks == 3, k
        shared = trainer.params[k]
        if k.startswith("critic.") or shared.dim() != 2:
            assert not v.factored and v._delta is not None and v._delta.shape == (3, *shared.shape), k
            continue
        assert v.factored and len(v._terms) == 2, k
        for _, u, w in v._terms:
            assert u.shape[:2] == w.shape[:2] and u.shape[0] == 3, k
            assert (u.shape[2], w.shape[2]) == tuple(shared.shape), k
            assert u.shape[1] < max(shared.shape) * 4, k  # a few support rows, not a weight's worth


def test_batch_and_task_adaptation_agree_at_second_order_with_one_task(digits, registries):
    """Algorithm 1 line 14 takes the partial derivative of L_GC in theta_gc, with the critic and
    the modulator already adapted: with one task, batch and per-task second-order meta-gradients
    are then the same computation."""
    from test_train import _one_episode_grads

    extra = [*NO_DROPOUT, "task_sampler.tasks=1", "trainer.first_order=false"]
    ga = _one_episode_grads(tiny("amaz", *extra, "trainer.adaptation=batch"), registries, digits)
    gb = _one_episode_grads(tiny("amaz", *extra, "trainer.adaptation=task"), registries, digits)
    for k in ga:
        torch.testing.assert_close(gb[k], ga[k], rtol=1e-3, atol=1e-6, msg=k)
