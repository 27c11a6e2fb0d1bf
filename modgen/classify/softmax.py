"""Softmax final classifiers: two fully connected layers and a softmax (Section III-B).

``weighting="instance"`` weights each sample's cross entropy by its quality (Eq. 13);
``weighting="class"`` by the mean quality of its class (Eq. 14). The paper trains the softmax
classifiers for only 20 epochs "to avoid gaining improvements from a better-trained
classifier"; that is the default here too.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from modgen.classify._base import TorchClassifierBase
from modgen.errors import ConfigError

__all__ = ["SoftmaxClassifier", "WeightedSoftmaxClassifier"]

# Rows scored per step at prediction time, to bound memory on large test sets.
_PREDICT_CHUNK = 65536


def _init_linear(layer: nn.Linear, generator: torch.Generator) -> None:
    # nn.Linear's default init, drawn from our generator instead of the global RNG.
    bound = 1.0 / math.sqrt(layer.in_features)
    with torch.no_grad():
        for p in (layer.weight, layer.bias):
            p.copy_(torch.rand(p.shape, generator=generator) * (2 * bound) - bound)


class SoftmaxClassifier(TorchClassifierBase):
    """Two fully connected layers and a softmax, trained with Adam in torch.

    ``(n, D) -> Linear(D, hidden) -> ReLU -> Linear(hidden, C) -> softmax``; ``hidden=0``
    gives a single linear layer (multinomial logistic regression).

    Args:
        hidden: width of the hidden layer (0: no hidden layer).
        epochs: passes over the training set (the paper: 20).
        batch_size: samples per Adam step.
        lr: Adam learning rate.
        weight_decay: L2 penalty of Adam.
        weighting: ``"none"`` (``sample_weight`` ignored), ``"instance"`` (Eq. 13: each
            sample's cross entropy times its weight) or ``"class"`` (Eq. 14: times the mean
            weight of its class). Weights are rescaled to mean 1; zero-weight samples are
            dropped (see :func:`~modgen.classify._base.resolve_sample_weights`).
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        random_state: seed of the initial weights and of the minibatch order.

    Attributes:
        classes_: ``(C,)`` the sorted labels seen in ``fit``.
        model_: the trained ``torch.nn.Module`` (on ``device``).

    Example:
        >>> import numpy as np
        >>> X = np.array([[0.0, 0.0], [0.1, 0.0], [3.0, 3.0], [3.1, 3.0]], dtype=np.float32)
        >>> clf = SoftmaxClassifier(hidden=8, epochs=60, batch_size=4, lr=0.05, device="cpu")
        >>> clf.fit(X, np.array([4, 4, 7, 7])).predict(X).tolist()
        [4, 4, 7, 7]
    """

    selection_grid = {"lr": (1e-4, 1e-3, 1e-2)}

    def __init__(
        self,
        hidden: int = 512,
        epochs: int = 20,
        batch_size: int = 256,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        weighting: str = "none",
        device: str = "auto",
        random_state: int = 0,
    ) -> None:
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.weighting = weighting
        self.device = device
        self.random_state = random_state

    def _check_params(self) -> None:
        owner = self._owner()
        for name, low in (("hidden", 0), ("epochs", 1), ("batch_size", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"{owner}.{name}: expected an integer >= {low}, got {value!r}")
        for name in ("lr", "weight_decay"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ConfigError(f"{owner}.{name}: expected a number >= 0, got {value!r}")
        if not isinstance(self.random_state, int) or self.random_state < 0:
            raise ConfigError(f"{owner}.random_state: expected an integer >= 0, got {self.random_state!r}")

    def _build(self, n_features: int, n_classes: int, generator: torch.Generator) -> nn.Module:
        if self.hidden == 0:
            layers: list[nn.Module] = [nn.Linear(n_features, n_classes)]
        else:
            layers = [nn.Linear(n_features, self.hidden), nn.ReLU(), nn.Linear(self.hidden, n_classes)]
        for layer in layers:
            if isinstance(layer, nn.Linear):
                _init_linear(layer, generator)
        return nn.Sequential(*layers)

    def fit(self, X: Any, y: Any, sample_weight: Any | None = None) -> SoftmaxClassifier:
        """Train on ``X (n, D)``, labels ``y (n,)`` and optional ``sample_weight (n,)``.

        Returns:
            ``self``.
        """
        self._check_params()
        Xt, y_index, w, device = self._prepare_fit(X, y, sample_weight, self.weighting)
        # CPU generator: the same seed gives the same weights and batch order on any device.
        gen = torch.Generator().manual_seed(int(self.random_state))
        model = self._build(Xt.shape[1], len(self.classes_), gen).to(device)
        yt = torch.as_tensor(y_index, device=device)
        wt = None if w is None else torch.as_tensor(w, dtype=torch.float32, device=device)
        opt = torch.optim.Adam(model.parameters(), lr=float(self.lr), weight_decay=float(self.weight_decay))
        n = Xt.shape[0]
        model.train()
        for _ in range(self.epochs):
            order = torch.randperm(n, generator=gen).to(device)
            for start in range(0, n, self.batch_size):
                idx = order[start : start + self.batch_size]
                losses = nn.functional.cross_entropy(model(Xt[idx]), yt[idx], reduction="none")
                # Eq. 13: (1/|A'|) sum Q * CE, i.e. the batch mean of the weighted losses.
                loss = (losses * wt[idx]).mean() if wt is not None else losses.mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        model.eval()
        self.model_ = model
        return self

    def _scores(self, X: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.cat(
                [self.model_(X[i : i + _PREDICT_CHUNK]) for i in range(0, X.shape[0], _PREDICT_CHUNK)]
            )

    def predict_proba(self, X: Any) -> Any:
        """Softmax probabilities ``(n, D) -> (n, C)`` (numpy)."""
        scores = torch.as_tensor(self.decision_function(X))
        return torch.softmax(scores, dim=1).numpy()


class WeightedSoftmaxClassifier(SoftmaxClassifier):
    """The softmax classifier with instance-level quality weights (Eq. 13) by default.

    Same parameters as :class:`SoftmaxClassifier`; only ``weighting`` defaults to
    ``"instance"``.

    Example:
        >>> WeightedSoftmaxClassifier().weighting
        'instance'
    """

    def __init__(
        self,
        hidden: int = 512,
        epochs: int = 20,
        batch_size: int = 256,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        weighting: str = "instance",
        device: str = "auto",
        random_state: int = 0,
    ) -> None:
        super().__init__(
            hidden=hidden,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            weight_decay=weight_decay,
            weighting=weighting,
            device=device,
            random_state=random_state,
        )
