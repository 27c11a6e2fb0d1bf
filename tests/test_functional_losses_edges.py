"""The losses at the edges of their shapes: one sample of attributes is a batch of one."""

from __future__ import annotations

import pytest
import torch

from modgen.errors import ShapeError
from modgen.functional.losses import attribute_loss


def test_attribute_loss_of_one_sample_is_its_squared_distance():
    assert float(attribute_loss(torch.zeros(3), torch.tensor([1.0, 2.0, 2.0]))) == 9.0
    assert float(attribute_loss(torch.zeros(1, 3), torch.tensor([[1.0, 2.0, 2.0]]))) == 9.0
    with pytest.raises(ShapeError, match=r"attribute_loss: a must be \(\.\.\., n, A\), got shape \(\)"):
        attribute_loss(torch.tensor(1.0), torch.tensor(2.0))
