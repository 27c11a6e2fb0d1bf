"""Numbers of a fixed seed that a refactoring must not change.

A tiny run of ``amaz`` and ``clswgan`` on the embedded digits data: the sum of the absolute
values of every trained parameter and buffer, and the last logged losses. A change that alters
them on purpose (a new default, a different random stream) updates the values here in the same
commit and says why in the commit message.
"""

from __future__ import annotations

import pytest
import torch

from modgen.config import apply_overrides
from modgen.recipes import builtin_recipes, with_dataset_preset
from modgen.testing.presets import TINY_NETWORKS
from modgen.train.loop import train

GOLDEN = {
    "amaz": (1360.6191406244543, {"loss/d": 7.210644, "loss/gc": 6.367424}),
    "clswgan": (624.489995768613, {"loss/d": 8.922479, "loss/gc": 6.29886}),
}


@pytest.mark.parametrize("recipe", sorted(GOLDEN))
def test_fixed_seed_gives_the_recorded_numbers(recipe, registries, tmp_path):
    from modgen.data.digits import load_digits_zsl

    spec = with_dataset_preset(builtin_recipes()[recipe](), "digits")
    spec = apply_overrides(
        spec,
        [
            *TINY_NETWORKS,
            "trainer.episodes=3",
            "trainer.batch_size=8",
            "trainer.critic_iters=2",
            'trainer.device="cpu"',
            "trainer.log_every=1",
        ],
    )
    out = train(spec, registries, data=load_digits_zsl(), out=tmp_path)
    total = sum(
        float(p.double().abs().sum()) for p in out.assembly.state_dict().values() if p.is_floating_point()
    )
    expected_total, expected_losses = GOLDEN[recipe]
    assert total == pytest.approx(expected_total, rel=1e-9)
    for key, value in expected_losses.items():
        assert out.last_metrics[key] == pytest.approx(value, abs=1e-5)
    assert torch.get_num_threads() >= 1
