"""The meta trainer's fast adaptation and meta-gradients equal Algorithm 1 written out on its own
(tests/meta_reference.py, which shares no code with modgen.train.meta).

The inner learning rates are large (0.1) so that every line of the algorithm moves the numbers
well beyond the tolerance: skipping the adaptation, or taking G/C's inner gradient at the
un-adapted critic and modulator (line 14 comes after lines 12-13), fails here directly.
"""

from __future__ import annotations

import pytest
import torch
from meta_reference import Algorithm1, autograd_partial, episode_tensors
from test_train import NO_DROPOUT, tiny

from modgen.train.base import RandomStreams
from modgen.train.loop import build_for_data

ALPHAS = ["trainer.alpha1=0.1", "trainer.alpha2=0.1", "trainer.alpha3=0.1"]


@pytest.fixture(scope="module")
def digits():
    from modgen.data.digits import load_digits_zsl

    return load_digits_zsl()


def _setup(registries, data, *extra):
    spec = tiny("amaz", *NO_DROPOUT, *ALPHAS, "task_sampler.tasks=2", *extra)
    cpu = torch.device("cpu")
    asm = build_for_data(spec, registries, data, cpu, seed=0)
    trainer = registries.trainer.get("meta")(
        assembly=asm, data=data, spec=spec, registries=registries, device=cpu
    )
    sampler = registries.task_sampler.get(spec.task_sampler.name)(
        data, device=cpu, **spec.task_sampler.params
    )
    ref = Algorithm1(asm, trainer.settings)
    return trainer, ref, sampler


def _steps(adapted, theta, keys):
    return {k: (adapted[k] - theta[k]).detach() for k in keys}


def _assert_close(got, want, *, rtol=1e-4, atol_of_largest=1e-5):
    assert got.keys() == want.keys() and want
    scale = max(float(v.abs().max()) for v in want.values())
    assert scale > 0
    for k in want:
        torch.testing.assert_close(got[k], want[k], rtol=rtol, atol=atol_of_largest * scale, msg=k)


def _relative_difference(a, b):
    return max(float((a[k] - b[k]).abs().max()) for k in b) / max(float(v.abs().max()) for v in b.values())


@pytest.mark.parametrize(
    "extra",
    [
        [],
        ["trainer.first_order=false"],
        ["trainer.inner_steps=2"],
        ["trainer.modulator_loss=gc", "trainer.first_order=false"],
        ["trainer.real_anchor=false"],
    ],
    ids=["first-order", "second-order", "two-inner-steps", "modulator-loss-gc", "no-real-anchor"],
)
def test_fast_adaptation_is_algorithm_1(extra, digits, registries):
    trainer, ref, sampler = _setup(registries, digits, *extra)
    sup, _ = episode_tensors(sampler, RandomStreams.from_seed(0, "cpu"), trainer.assembly.noise_dim, ref.cfg)
    theta = dict(trainer.params)
    got = trainer._adapt(dict(theta), sup)
    want = ref.adapt(dict(theta), sup)
    assert got.keys() == theta.keys()
    for group, keys in ref.groups.items():
        want_step = _steps(want, theta, keys)
        # every group moves (an adaptation that was skipped would leave the parameters where they were)
        assert max(float(v.abs().max()) for v in want_step.values()) > 1e-4, group
        _assert_close(_steps(got, theta, keys), want_step)


def test_g_and_c_adapt_at_the_adapted_critic_and_modulator(digits, registries):
    """Line 14 after lines 12-13: G/C's inner gradient at theta_d' and theta_am', not at theta. The
    two readings differ by far more than the tolerance of the comparison above."""
    trainer, ref, sampler = _setup(registries, digits)
    sup, _ = episode_tensors(sampler, RandomStreams.from_seed(0, "cpu"), trainer.assembly.noise_dim, ref.cfg)
    theta = dict(trainer.params)
    gc = ref.groups["gc"]
    got = _steps(trainer._adapt(dict(theta), sup), theta, gc)

    def loss_gc(q):
        return ref.l_gc(q, q, sup, ref.fake(q, sup)) + ref.real_cls(q, sup)

    at_theta = autograd_partial(loss_gc, theta, gc, False)
    unadapted = {k: -ref.cfg.alpha3 * at_theta[k] for k in gc}
    assert _relative_difference(got, unadapted) > 1e-3
    _assert_close(got, _steps(ref.adapt(dict(theta), sup), theta, gc))


@pytest.mark.parametrize(
    "extra",
    [[], ["trainer.first_order=false"], ["trainer.modulator_loss=gc"]],
    ids=["first-order", "second-order", "modulator-loss-gc"],
)
def test_meta_gradients_are_algorithm_1(extra, digits, registries):
    trainer, ref, sampler = _setup(registries, digits, *extra)
    trainer.compute_grads(RandomStreams.from_seed(3, "cpu"))
    got = {k: p.grad.clone() for k, p in trainer.params.items() if p.grad is not None}
    sup, qry = episode_tensors(
        sampler, RandomStreams.from_seed(3, "cpu"), trainer.assembly.noise_dim, ref.cfg
    )
    want = ref.meta_grads(dict(trainer.params), sup, qry)
    assert len(want) > 10
    _assert_close(got, want)
    # the comparison can fail: without the inner step the meta-gradients are far off
    no_inner = Algorithm1(trainer.assembly, ref.cfg)
    no_inner.adapt = lambda theta, sup: theta  # type: ignore[method-assign]
    assert _relative_difference(no_inner.meta_grads(dict(trainer.params), sup, qry), want) > 1e-2


def test_compiled_network_wrappers_compute_the_eager_networks(digits, registries, monkeypatch):
    """trainer.compile=true runs G (with the modulator), C and AD through wrappers of their
    parameter dicts; with torch.compile replaced by the identity (the compiler itself is tested
    on the GPU) the wrappers give the eager trainer's meta-gradients exactly."""
    eager, _, _ = _setup(registries, digits)
    eager.compute_grads(RandomStreams.from_seed(3, "cpu"))
    want = {k: p.grad.clone() for k, p in eager.params.items() if p.grad is not None}
    compiled = []

    def identity(fn, **kwargs):
        compiled.append(fn.__name__)
        return fn

    monkeypatch.setattr(torch, "compile", identity)
    wrapped, _, _ = _setup(registries, digits, "trainer.compile=true")
    assert sorted(compiled) == ["attribute_decoder", "aux_classifier", "fake"]
    wrapped.compute_grads(RandomStreams.from_seed(3, "cpu"))
    got = {k: p.grad.clone() for k, p in wrapped.params.items() if p.grad is not None}
    assert got.keys() == want.keys()
    for k in want:
        torch.testing.assert_close(got[k], want[k], rtol=0, atol=0, msg=k)


@pytest.mark.parametrize("first_order", [True, False], ids=["first-order", "second-order"])
def test_the_inner_gradient_all_reduce_is_differentiable_for_second_order(first_order, digits, registries):
    """Under torchrun the batch's inner gradients are averaged over ranks; second-order
    meta-gradients differentiate through that average, first-order ones need not."""
    from modgen.distributed import DistContext

    calls = []

    class Recording(DistContext):
        def all_reduce_inner(self, grads, *, differentiable):
            calls.append(differentiable)
            return grads

    spec = tiny("amaz", *NO_DROPOUT, f"trainer.first_order={str(first_order).lower()}")
    asm = build_for_data(spec, registries, digits, torch.device("cpu"), seed=0)
    trainer = registries.trainer.get("meta")(
        assembly=asm, data=digits, spec=spec, registries=registries, device="cpu", dist=Recording()
    )
    trainer.compute_grads(RandomStreams.from_seed(0, "cpu"))
    assert calls and set(calls) == {not first_order}
