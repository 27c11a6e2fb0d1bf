"""Pure tensor operations of modgen: modulation, per-task normalisation and the AMAZ losses.

Nothing here holds state; everything runs under ``torch.func`` transforms (``grad``,
``vmap``, ``functional_call``), which the meta-trainer relies on.

Example:
    >>> import torch
    >>> from modgen.functional import modulate
    >>> modulate(torch.ones(3, 2), torch.zeros(2), torch.zeros(2)).shape
    torch.Size([3, 2])
"""

from __future__ import annotations

from modgen.functional.losses import (
    attribute_loss,
    critic_loss,
    generator_loss,
    gradient_penalty,
    interpolation_epsilon,
)
from modgen.functional.modulation import (
    GATES,
    MODULATION_VARIANTS,
    OPERATORS,
    check_modulation_options,
    describe_modulation,
    gate,
    modulate,
)
from modgen.functional.normalization import pooled_batch_norm, task_batch_norm

__all__ = [
    "GATES",
    "MODULATION_VARIANTS",
    "OPERATORS",
    "attribute_loss",
    "check_modulation_options",
    "critic_loss",
    "describe_modulation",
    "gate",
    "generator_loss",
    "gradient_penalty",
    "interpolation_epsilon",
    "modulate",
    "pooled_batch_norm",
    "task_batch_norm",
]
