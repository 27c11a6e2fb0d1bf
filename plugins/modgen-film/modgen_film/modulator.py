"""A FiLM-style modulator: ``o_hat_j = gamma_j(e) * o_j + beta_j(e)``, no gates.

Where AMAZ's attribute modulator (Eq. 3 of the paper) squashes its parameters through sigmoids,
``(1 + sigmoid(w_j)) * o_j + sigmoid(b_j)``, FiLM (Perez et al., 2018) uses the raw affine
parameters. Both are built the same way: an attribute projector AP turns the task's attribute
set into a task embedding ``e`` (Eq. 1), and one head per modulated generator output turns ``e``
into that output's parameters (Eq. 2).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from modgen.errors import ConfigError, ShapeError

__all__ = ["FiLMModulation", "FiLMModulator"]


class FiLMModulation:
    """Per-task affine modulation of a generator's outputs, made by :class:`FiLMModulator`.

    Args:
        gammas: one scale per modulated output ``j``, each ``(..., 1, d_j)`` (the sample
            dimension is 1 so that one task's parameters apply to all its samples).
        betas: one shift per modulated output, shaped like ``gammas``.

    ``modulation(j, o)``: ``o`` ``(..., n, d_j)`` -> ``gamma_j * o + beta_j`` ``(..., n, d_j)``.

    Example:
        >>> m = FiLMModulation([torch.full((1, 3), 2.0)], [torch.ones(1, 3)])
        >>> m(0, torch.zeros(4, 3))[0].tolist()
        [1.0, 1.0, 1.0]
    """

    def __init__(self, gammas: Sequence[Tensor], betas: Sequence[Tensor]) -> None:
        self.gammas = list(gammas)
        self.betas = list(betas)

    def __len__(self) -> int:
        return len(self.gammas)

    def __call__(self, j: int, o: Tensor) -> Tensor:
        """Modulate the ``j``-th output ``o`` ``(..., n, d_j)`` -> ``(..., n, d_j)``.

        Raises:
            ShapeError: ``j`` is not a modulated output or ``o``'s last dimension is not ``d_j``.
        """
        if not 0 <= j < len(self.gammas):
            raise ShapeError(
                f"FiLM modulation: output index j={j} is out of range; the modulator was built "
                f"for {len(self.gammas)} outputs (j = 0..{len(self.gammas) - 1})."
            )
        gamma, beta = self.gammas[j], self.betas[j]
        if o.shape[-1] != gamma.shape[-1]:
            raise ShapeError(
                f"FiLM modulation: output {j} has width {o.shape[-1]} (shape {tuple(o.shape)}), "
                f"expected {gamma.shape[-1]}; build the modulator with the generator's modulated_dims."
            )
        return gamma * o + beta


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"film.film: {name} must be a positive integer, got {value!r}")
    return value


class FiLMModulator(nn.Module):
    """Task encoder AP plus one FiLM head (gamma, beta) per modulated generator output.

    AP is a per-class MLP ``A -> hidden -> embed_dim`` averaged over the task's classes, so the
    embedding does not depend on the order of the classes. The gamma heads start with small
    weights and bias 1 and the beta heads with small weights and bias 0: an untrained modulator
    is close to the identity and the generator starts from its unmodulated behaviour.

    Args:
        attr_dim: attribute dimension ``A``.
        target_dims: widths ``d_0, ..., d_k`` of the generator's modulated outputs
            (``generator.modulated_dims``).
        hidden: width of AP's hidden layer.
        embed_dim: task-embedding width ``E``; defaults to ``hidden``.
        init_std: standard deviation of the heads' initial weights.

    ``forward(task_attributes)``: ``(..., N, A)`` -> :class:`FiLMModulation` whose parameters
    are ``(..., 1, d_j)``.

    Raises:
        ConfigError: a width is not a positive integer or ``target_dims`` is empty.

    Example:
        >>> mod = FiLMModulator(attr_dim=4, target_dims=[8, 16], hidden=32)
        >>> modulation = mod(torch.randn(5, 4))  # a 5-way task
        >>> modulation(1, torch.randn(10, 16)).shape
        torch.Size([10, 16])
    """

    def __init__(
        self,
        attr_dim: int,
        target_dims: Sequence[int],
        *,
        hidden: int = 256,
        embed_dim: int | None = None,
        init_std: float = 0.01,
    ) -> None:
        super().__init__()
        self.attr_dim = _positive_int("attr_dim", attr_dim)
        hidden = _positive_int("hidden", hidden)
        embed_dim = hidden if embed_dim is None else _positive_int("embed_dim", embed_dim)
        if isinstance(target_dims, (str, bytes)) or not isinstance(target_dims, Sequence) or not target_dims:
            raise ConfigError(
                f"film.film: target_dims must be a non-empty list of widths (the generator's "
                f"modulated_dims), got {target_dims!r}"
            )
        self.target_dims = tuple(_positive_int(f"target_dims[{i}]", d) for i, d in enumerate(target_dims))
        if isinstance(init_std, bool) or not isinstance(init_std, (int, float)) or init_std < 0:
            raise ConfigError(f"film.film: init_std must be a number >= 0, got {init_std!r}")
        self.encoder = nn.Sequential(
            nn.Linear(self.attr_dim, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, embed_dim),
            nn.LeakyReLU(0.2),
        )
        self.gamma_heads = nn.ModuleList(nn.Linear(embed_dim, d) for d in self.target_dims)
        self.beta_heads = nn.ModuleList(nn.Linear(embed_dim, d) for d in self.target_dims)
        with torch.no_grad():
            for head, bias in [(h, 1.0) for h in self.gamma_heads] + [(h, 0.0) for h in self.beta_heads]:
                head.weight.normal_(0.0, float(init_std))
                head.bias.fill_(bias)

    def forward(self, task_attributes: Tensor) -> FiLMModulation:
        """Encode the task's attribute set ``(..., N, A)`` and return its modulation.

        Raises:
            ShapeError: ``task_attributes`` is not ``(..., N, A)`` with this ``A``.
        """
        if task_attributes.dim() < 2 or task_attributes.shape[-1] != self.attr_dim:
            raise ShapeError(
                f"film.film: task_attributes must be (..., N, {self.attr_dim}), "
                f"got shape {tuple(task_attributes.shape)}"
            )
        # The mean over classes (dim -2) makes the embedding one vector per task; keepdim leaves
        # a sample dimension of 1 that broadcasts over the task's n samples.
        e = self.encoder(task_attributes).mean(dim=-2, keepdim=True)
        return FiLMModulation([h(e) for h in self.gamma_heads], [h(e) for h in self.beta_heads])
