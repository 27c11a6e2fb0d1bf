"""Numbers of a fixed seed that a refactoring must not change.

A tiny run of ``amaz`` and ``clswgan`` on the embedded digits data: the sum of the absolute
values of every trained parameter and buffer, and the last logged losses.

Two different promises are tested here, each where it really holds:

* **Bit-for-bit determinism** holds within one process on one machine: two runs of the same spec
  agree exactly (``test_two_runs_agree_bit_for_bit``).
* **The recorded numbers** hold across machines only up to the rounding of the CPU kernels torch
  picks (``ATEN_CPU_CAPABILITY``: ``default``, ``avx2``, ``avx512``; AMD EPYC servers and other
  CPUs without AVX-512 take ``avx2``). Measured for torch 2.13.0 on one thread (see ``GOLDEN``):
  the totals differ by at most 1.04e-5 relative between the paths (amaz: avx512 1357.58863,
  default 1357.57611, avx2 1357.57449) and the losses by at most 4.9e-5 absolute. The tolerances
  below are ten times that spread; a real change (a new default, a different random stream, one
  episode more) moves the totals by far more (checked by ``test_the_tolerance_still_sees_one_episode``).

To regenerate after a change made on purpose, run ``python tests/test_golden.py`` on any machine,
paste the printed ``GOLDEN`` into this file and say why in the commit message. To measure the
spread again, run it under each path: ``ATEN_CPU_CAPABILITY=default python tests/test_golden.py``
(and ``avx2``, ``avx512`` where the CPU has it).
"""

from __future__ import annotations

import pytest

from modgen.pipeline import resolve_spec
from modgen.testing.presets import tiny
from modgen.train.loop import train

# Recorded on an AVX-512 machine (the ``avx512`` path), torch 2.13.0, one thread.
GOLDEN = {
    "amaz": (1357.5886291556963, {"loss/d": 8.200177, "loss/gc": 5.571499}),
    "clswgan": (621.4388453446772, {"loss/d": 8.984433, "loss/gc": 5.735375}),
}
# Ten times the largest spread measured between the CPU kernel paths (module docstring).
TOTAL_REL = 1e-4
LOSS_ABS = 5e-4
PLAIN = ["trainer.batch_size=8", "trainer.critic_iters=2"]


def _run(recipe, registries, out, episodes=3):
    from modgen.data.digits import load_digits_zsl

    extra = PLAIN if recipe == "clswgan" else []
    spec = resolve_spec(
        registries,
        recipe,
        dataset="digits",
        overrides=[f"trainer.episodes={episodes}", "run.device=cpu", "run.log_every=1", *extra],
    )
    spec = tiny(spec, registries)
    result = train(spec, registries, data=load_digits_zsl(), out=out, device="cpu")
    total = sum(
        float(p.double().abs().sum()) for p in result.assembly.state_dict().values() if p.is_floating_point()
    )
    return total, result.last_metrics


@pytest.mark.parametrize("recipe", sorted(GOLDEN))
def test_fixed_seed_gives_the_recorded_numbers(recipe, registries, tmp_path):
    total, metrics = _run(recipe, registries, tmp_path)
    expected_total, expected_losses = GOLDEN[recipe]
    assert total == pytest.approx(expected_total, rel=TOTAL_REL)
    for key, value in expected_losses.items():
        assert metrics[key] == pytest.approx(value, abs=LOSS_ABS)


def test_two_runs_agree_bit_for_bit(registries, tmp_path):
    first, first_metrics = _run("amaz", registries, tmp_path / "a")
    second, second_metrics = _run("amaz", registries, tmp_path / "b")
    assert first == second
    assert first_metrics == second_metrics


def test_the_tolerance_still_sees_one_episode(registries, tmp_path):
    total, _ = _run("amaz", registries, tmp_path, episodes=4)
    assert total != pytest.approx(GOLDEN["amaz"][0], rel=TOTAL_REL)


if __name__ == "__main__":  # regenerate: prints GOLDEN for this machine's kernel path
    import tempfile

    import torch

    from modgen.plugins import get_registries

    torch.set_num_threads(1)
    regs = get_registries(entry_points=False)
    print("# ATEN_CPU_CAPABILITY:", torch.backends.cpu.get_cpu_capability())
    print("GOLDEN = {")
    for name in sorted(GOLDEN):
        total, metrics = _run(name, regs, tempfile.mkdtemp())
        losses = {k: round(metrics[k], 6) for k in GOLDEN[name][1]}
        print(f"    {name!r}: ({total!r}, {losses!r}),")
    print("}")
