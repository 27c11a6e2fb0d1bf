"""Per-task parameters (modgen.functional.lowrank) as operands: before any step they compute what
the shared parameters compute, in either operand order, and a (T, ...) operand with the tasks
first is what they align with."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from modgen.errors import ShapeError
from modgen.functional.lowrank import per_task

T, N, IN, OUT = 3, 4, 5, 2


def _params():
    g = torch.Generator().manual_seed(0)
    return {
        "w": torch.randn(OUT, IN, generator=g, dtype=torch.float64, requires_grad=True),
        "b": torch.randn(OUT, generator=g, dtype=torch.float64, requires_grad=True),
    }


@pytest.mark.parametrize("factored", [["w"], []], ids=["factored", "dense"])
def test_a_linear_layer_before_any_step_is_the_shared_one(factored):
    p = _params()
    q = per_task(p, tasks=T, factored=factored)
    x = torch.randn(T, N, IN, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(F.linear(x, q["w"], q["b"]), F.linear(x, p["w"], p["b"]), rtol=0, atol=0)


def test_elementwise_operands_align_in_either_order():
    p = _params()
    q = per_task(p, tasks=T)
    step = torch.arange(T * OUT, dtype=torch.float64).reshape(T, OUT)
    b = q["b"].descend(step, 0.5)  # task t's bias: b - 0.5 * step[t]
    own = p["b"] - 0.5 * step  # (T, OUT)
    h = torch.ones(T, N, OUT, dtype=torch.float64)
    for got in (h * b, b * h, torch.mul(b, h), h + b, b + h, torch.add(b, h), b - h, h - b):
        assert got.shape == (T, N, OUT)
    torch.testing.assert_close(b * h, own[:, None, :].expand(T, N, OUT))
    torch.testing.assert_close(h - b, 1 - own[:, None, :].expand(T, N, OUT))
    # one sample per task: the operand is (T, OUT), the tasks followed by the parameter's shape
    flat = torch.full((T, OUT), 2.0, dtype=torch.float64)
    torch.testing.assert_close(b * flat, 2 * own)
    torch.testing.assert_close(flat + b, 2 + own)
    with pytest.raises(ShapeError, match=r"'b'.*other operand has shape \(2,\); expected \(T=3, \.\.\., 2\)"):
        torch.ones(OUT, dtype=torch.float64) + b
    with pytest.raises(ShapeError, match=r"mul needs a \(T, \.\.\.\) tensor operand"):
        torch.mul(b, 2.0)
