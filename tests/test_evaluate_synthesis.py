"""Synthesis: shapes, each class its own task (Section II-E), eval mode, determinism, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from modgen.assembly import build_assembly
from modgen.config import apply_overrides
from modgen.errors import ConfigError, ShapeError
from modgen.evaluate import synthesize
from modgen.plugins import get_registries
from modgen.recipes import amaz

A, D, N_REP = 5, 7, 4


@pytest.fixture(scope="module")
def assembly():
    spec = apply_overrides(amaz(), ["generator.hidden=32", "modulator.hidden=16"])
    return build_assembly(
        spec, get_registries(entry_points=False), attr_dim=A, feature_dim=D, num_classes=3, seed=0
    )


def class_attributes(c: int = 3) -> torch.Tensor:
    return torch.rand(c, A, generator=torch.Generator().manual_seed(11))


def test_shapes_labels_and_reconstruction(assembly):
    out = synthesize(assembly, class_attributes(3), 6, generator=torch.Generator().manual_seed(0))
    assert out.features.shape == (18, D)
    assert out.reconstructed is not None and out.reconstructed.shape == (18, A)
    assert out.labels.tolist() == [0] * 6 + [1] * 6 + [2] * 6
    assert out.labels.dtype == torch.int64
    # AD runs in eval mode on each class's features as one task, like G
    assembly.eval()
    with torch.no_grad():
        expected = assembly.attribute_decoder(out.features.reshape(3, 6, D)).reshape(18, A)
    assembly.train()
    torch.testing.assert_close(out.reconstructed, expected)


def test_each_class_is_its_own_task(assembly):
    """Class b's features are G(z_b, a_b) modulated by the task [a_b] * N alone."""
    attrs = class_attributes(2)
    n = 6
    out = synthesize(
        assembly, attrs, n, sigma=0.7, generator=torch.Generator().manual_seed(3), replicate=N_REP
    )
    gen = torch.Generator().manual_seed(3)
    _, z_b = torch.randn((n, A), generator=gen), torch.randn((n, A), generator=gen)
    a_b = attrs[1]
    assembly.eval()
    with torch.no_grad():
        modulation = assembly.modulator(a_b.expand(1, N_REP, A))
        x_b = assembly.generator(0.7 * z_b[None], a_b.expand(1, n, A), modulation)[0]
    assembly.train()
    torch.testing.assert_close(out.features[n:], x_b)
    # and the batching over classes does not matter: one class per chunk gives the same
    chunked = synthesize(
        assembly,
        attrs,
        n,
        sigma=0.7,
        generator=torch.Generator().manual_seed(3),
        replicate=N_REP,
        chunk_classes=1,
    )
    torch.testing.assert_close(chunked.features, out.features)


def test_deterministic_and_sigma_zero_collapses_each_class(assembly):
    attrs = class_attributes(3)
    assembly.train()  # synthesis switches dropout off itself, and restores the mode after
    a = synthesize(assembly, attrs, 5, generator=torch.Generator().manual_seed(1))
    b = synthesize(assembly, attrs, 5, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a.features, b.features)  # dropout is off: eval mode
    assert assembly.training and assembly.generator.training
    flat = synthesize(assembly, attrs, 5, sigma=0.0, generator=torch.Generator().manual_seed(1))
    per_class = flat.features.reshape(3, 5, D)
    torch.testing.assert_close(per_class, per_class[:, :1].expand_as(per_class))
    assert not torch.allclose(per_class[0, 0], per_class[1, 0])


class _RecordingModulator(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[tuple[int, ...], bool]] = []

    def forward(self, task_attributes):
        self.seen.append((tuple(task_attributes.shape), self.training))
        return lambda j, o: o + 1.0 if j == 0 else o


class _StandIn(nn.Module):
    """A stand-in assembly: linear G, a recording modulator, no attribute decoder."""

    def __init__(self) -> None:
        super().__init__()
        self.generator_net = nn.Linear(2 + 3, 4)
        self.modulator = _RecordingModulator()
        self.attribute_decoder = None
        self.quality_weighter = None
        self.attr_dim, self.feature_dim, self.noise_dim = 3, 4, 2

    def generator(self, z, a, modulation):
        o = torch.cat([z, a], -1)
        return self.generator_net(modulation(0, o) if modulation is not None else o)


def test_stand_in_modulator_sees_replicated_tasks_in_eval_mode():
    asm = _StandIn()
    asm.train()
    out = synthesize(
        asm, torch.ones(4, 3), 2, generator=torch.Generator().manual_seed(0), replicate=7, chunk_classes=3
    )
    assert asm.modulator.seen == [((3, 7, 3), False), ((1, 7, 3), False)]
    assert asm.training and asm.modulator.training  # modes restored
    assert out.reconstructed is None and out.features.shape == (8, 4)


def test_synthesis_errors(assembly):
    gen = torch.Generator().manual_seed(0)
    with pytest.raises(
        ShapeError,
        match=r"class_attributes must be \(C, 5\) \(one attribute row per class\), got shape \(3, 4\)",
    ):
        synthesize(assembly, torch.ones(3, 4), 2, generator=gen)
    with pytest.raises(ConfigError, match=r"synthesize: n_per_class must be an integer >= 1, got 0"):
        synthesize(assembly, torch.ones(3, A), 0, generator=gen)
    with pytest.raises(ConfigError, match=r"synthesize: sigma must be a number >= 0, got -1.0"):
        synthesize(assembly, torch.ones(3, A), 2, sigma=-1.0, generator=gen)


@pytest.fixture()
def calibrated():
    """A fresh assembly whose generator BatchNorm has running statistics (as after training)."""
    from modgen.nn.blocks import calibrate_batch_norm

    spec = apply_overrides(amaz(), ["generator.hidden=32", "modulator.hidden=16"])
    asm = build_assembly(
        spec, get_registries(entry_points=False), attr_dim=A, feature_dim=D, num_classes=3, seed=0
    )
    g = torch.Generator().manual_seed(5)
    tasks = torch.rand(4, 3, A, generator=g)
    z, a = torch.randn(4, 8, A, generator=g), tasks[:, :1].expand(4, 8, A)
    with torch.random.fork_rng():
        calibrate_batch_norm(asm.generator, [lambda: asm.generator(z, a, asm.modulator(tasks))])
    return asm


def _bn_inputs(asm, **kwargs):
    """What the first FBD block's BatchNorm normalised, and its output, ``(C, n, h)`` each."""
    seen = {}
    bn = asm.generator.fbd1.bn

    def hook(module, inputs, output):
        seen["x"], seen["y"] = inputs[0], output

    handle = bn.register_forward_hook(hook)
    try:
        synthesize(asm, class_attributes(3), 6, generator=torch.Generator().manual_seed(0), **kwargs)
    finally:
        handle.remove()
    return seen["x"], seen["y"]


def test_synthesis_batch_norm_batch_differs_from_running_and_spans_the_classes(calibrated):
    attrs, n = class_attributes(3), 6

    def run(which, classes=attrs, **kwargs):
        gen = torch.Generator().manual_seed(0)
        return synthesize(calibrated, classes, n, generator=gen, batch_norm=which, **kwargs).features

    running, batch = run("running"), run("batch")
    assert not torch.allclose(running, batch, atol=1e-4)
    assert torch.equal(run("running"), running)  # the default is today's running statistics
    torch.testing.assert_close(
        synthesize(calibrated, attrs, n, generator=torch.Generator().manual_seed(0)).features, running
    )
    # the statistics are those of the whole call, every class together, never of one class:
    bn = calibrated.generator.fbd1.bn
    x, y = _bn_inputs(calibrated, batch_norm="batch")
    flat = x.reshape(-1, x.shape[-1])
    expected = (flat - flat.mean(0)) * (flat.var(0, unbiased=False) + bn.eps).rsqrt() * bn.weight + bn.bias
    torch.testing.assert_close(y.reshape(-1, y.shape[-1]), expected)
    per_class = (x - x.mean(-2, keepdim=True)) * (x.var(-2, unbiased=False, keepdim=True) + bn.eps).rsqrt()
    assert not torch.allclose(y, per_class * bn.weight + bn.bias, atol=1e-3)
    # so a class's features depend on the classes synthesised with it, and chunking is moot
    alone = run("batch", attrs[:1])
    assert not torch.allclose(alone, batch[:n], atol=1e-4)
    torch.testing.assert_close(run("batch", chunk_classes=1), batch)
    # and the BatchNorm layers are back to their own behaviour afterwards
    assert not any(getattr(m, "pooled", False) for m in calibrated.modules())
    torch.testing.assert_close(run("running"), running)


def test_synthesis_batch_norm_option_is_validated_and_threaded_from_the_config(calibrated):
    from modgen.config import EvalConfig

    with pytest.raises(ConfigError, match="batch_norm must be one of 'running', 'batch', got 'class'"):
        synthesize(calibrated, class_attributes(2), 3, generator=torch.Generator(), batch_norm="class")
    with pytest.raises(ConfigError, match="synthesis_bn"):
        EvalConfig(synthesis_bn="class")
    assert EvalConfig().synthesis_bn == "running"


def _record_synthesis(monkeypatch, sets, key):
    """The ``key`` argument of every ``synthesize`` call the evaluation's sets make, in order."""
    calls = []

    def recording(*args, **kwargs):
        calls.append(kwargs[key])
        return synthesize(*args, **kwargs)

    monkeypatch.setattr(sets, "synthesize", recording)
    return calls


def _small_amaz_for(data):
    """A small amaz assembly sized for ``data``."""
    spec = apply_overrides(amaz(), ["generator.hidden=16", "modulator.hidden=8"])
    return build_assembly(
        spec,
        get_registries(entry_points=False),
        attr_dim=data.attr_dim,
        feature_dim=data.feature_dim,
        num_classes=len(data.seen_classes),
        seed=0,
    )


def test_evaluation_synthesis_bn_reaches_every_synthesis_of_the_evaluation(monkeypatch):
    import modgen.evaluate.sets as sets
    from modgen.config import EvalConfig
    from modgen.data.digits import load_digits_zsl

    data = load_digits_zsl()
    asm = _small_amaz_for(data)
    calls = _record_synthesis(monkeypatch, sets, "batch_norm")
    for which in ("batch", "running"):
        config = EvalConfig(synthesis_bn=which, zsl_samples=4, gzsl_samples=4)
        sets.zsl_set(asm, data, config, torch.Generator().manual_seed(0))
        sets.gzsl_set(asm, data, config, torch.Generator().manual_seed(0))
    assert calls == ["batch", "batch", "running", "running"]


# ---- the task whose modulation a class gets (evaluation.modulation_task) --------------------


def test_nearest_seen_tasks_picks_the_nearest_seen_classes_by_cosine():
    from modgen.evaluate.synthesis import nearest_seen_tasks

    seen = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    target = torch.tensor([[2.0, 0.1, 0.0], [0.0, 0.2, 3.0]])  # scale does not matter: cosine
    tasks = nearest_seen_tasks(target, seen, 2)
    assert tasks.shape == (2, 2, 3)
    torch.testing.assert_close(tasks[0], seen[[0, 3]])
    torch.testing.assert_close(tasks[1], seen[[2, 1]])
    # never more than the seen classes there are
    assert nearest_seen_tasks(target, seen, 10).shape == (2, 4, 3)
    with pytest.raises(ShapeError, match="nearest_seen_tasks"):
        nearest_seen_tasks(target, seen[:, :2], 2)


def test_task_attributes_modulate_each_class_by_the_given_task(assembly):
    """Own-task attributes passed explicitly give the paper's synthesis bit for bit; another task
    changes only the modulation (G's input still carries the class's attribute)."""
    attrs = class_attributes(3)
    own = attrs[:, None, :].expand(3, N_REP, A)
    paper = synthesize(assembly, attrs, 5, generator=torch.Generator().manual_seed(1), replicate=N_REP)
    given = synthesize(assembly, attrs, 5, generator=torch.Generator().manual_seed(1), task_attributes=own)
    torch.testing.assert_close(given.features, paper.features)
    other = torch.rand(3, 2, A, generator=torch.Generator().manual_seed(5))
    moved = synthesize(assembly, attrs, 5, generator=torch.Generator().manual_seed(1), task_attributes=other)
    assert not torch.allclose(moved.features, paper.features)
    gen = torch.Generator().manual_seed(1)
    z = [torch.randn((5, A), generator=gen) for _ in range(3)]
    assembly.eval()
    with torch.no_grad():
        x_2 = assembly.generator(z[2][None], attrs[2].expand(1, 5, A), assembly.modulator(other[2:3]))[0]
    assembly.train()
    torch.testing.assert_close(moved.features[10:], x_2)
    with pytest.raises(ShapeError, match=r"task_attributes must be \(3, N, 5\)"):
        synthesize(assembly, attrs, 5, generator=torch.Generator(), task_attributes=other[:2])
    with pytest.raises(ConfigError, match="not both"):
        synthesize(assembly, attrs, 5, generator=torch.Generator(), task_attributes=own, context_tasks=2)


def test_modulation_task_is_validated_and_reaches_the_evaluation_synthesis(monkeypatch):
    import modgen.evaluate.sets as sets
    from modgen.config import EvalConfig
    from modgen.data.digits import load_digits_zsl
    from modgen.evaluate.synthesis import nearest_seen_tasks

    with pytest.raises(ConfigError, match="modulation_task"):
        EvalConfig(modulation_task="nearest")
    with pytest.raises(ConfigError, match="set one of them"):
        EvalConfig(modulation_task="nearest_seen", context_tasks=3)
    assert EvalConfig().modulation_task == "own"
    data = load_digits_zsl()
    asm = _small_amaz_for(data)
    seen_calls = _record_synthesis(monkeypatch, sets, "task_attributes")
    config = EvalConfig(modulation_task="nearest_seen", task_size=2, zsl_samples=4)
    sets.zsl_set(asm, data, config, torch.Generator().manual_seed(0))
    semantics = torch.as_tensor(data.semantics)
    expected = nearest_seen_tasks(
        semantics[torch.as_tensor(data.unseen_classes)], semantics[torch.as_tensor(data.seen_classes)], 2
    )
    torch.testing.assert_close(seen_calls[0], expected)
    sets.zsl_set(asm, data, EvalConfig(zsl_samples=4), torch.Generator().manual_seed(0))
    assert seen_calls[1] is None
