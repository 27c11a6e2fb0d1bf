"""Numbers of a fixed seed that a refactoring must not change.

A tiny run of ``amaz`` and ``clswgan`` on the embedded digits data: the sum of the absolute
values of every trained parameter and buffer, and the last logged losses. A change that alters
them on purpose (a new default, a different random stream) updates the values here in the same
commit and says why in the commit message.
"""

from __future__ import annotations

import pytest

from modgen.pipeline import resolve_spec
from modgen.testing.presets import tiny
from modgen.train.loop import train

GOLDEN = {
    "amaz": (1357.5886291556963, {"loss/d": 8.200177, "loss/gc": 5.571499}),
    "clswgan": (621.4388453446772, {"loss/d": 8.984433, "loss/gc": 5.735375}),
}
PLAIN = ["trainer.batch_size=8", "trainer.critic_iters=2"]


@pytest.mark.parametrize("recipe", sorted(GOLDEN))
def test_fixed_seed_gives_the_recorded_numbers(recipe, registries, tmp_path):
    from modgen.data.digits import load_digits_zsl

    extra = PLAIN if recipe == "clswgan" else []
    spec = resolve_spec(
        registries,
        recipe,
        dataset="digits",
        overrides=["trainer.episodes=3", "run.device=cpu", "run.log_every=1", *extra],
    )
    spec = tiny(spec, registries)
    out = train(spec, registries, data=load_digits_zsl(), out=tmp_path)
    total = sum(
        float(p.double().abs().sum()) for p in out.assembly.state_dict().values() if p.is_floating_point()
    )
    expected_total, expected_losses = GOLDEN[recipe]
    assert total == pytest.approx(expected_total, rel=1e-9)
    for key, value in expected_losses.items():
        assert out.last_metrics[key] == pytest.approx(value, abs=1e-5)
