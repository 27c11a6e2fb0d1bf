"""modgen's attribute modulator inside a plain PyTorch training loop of your own.

Take one component into your own code: here the AMAZ attribute modulator
(:class:`modgen.nn.AttributeModulator`, Eqs. 1-2) and :func:`modgen.functional.modulate` (Eq. 3)
condition a tiny generator you write yourself. No modgen trainer, registry or recipe is used;
the loop, the model and the loss are ordinary PyTorch. The loss is a simple per-class moment
match (mean and standard deviation of the generated features against the real ones) so that the
script stays short; plug the modulator into any generator and any loss the same way.

After training, each unseen digit is its own task (its attribute replicated, as in the paper's
inference), 100 features per digit are generated, and a nearest-class-mean classifier trained on
them classifies the real unseen digits.

Run it (about ten seconds on a CPU)::

    python examples/modulator_in_own_loop.py [--steps 200] [--device cpu]
"""

from __future__ import annotations

import argparse

import torch
from torch import Tensor, nn

from modgen.data.digits import load_digits_zsl
from modgen.functional import modulate
from modgen.nn.modulator import AttributeModulator


class TinyGenerator(nn.Module):
    """``G(z, a)``: two linear layers whose input ``[z, a]`` and hidden layer are modulated."""

    def __init__(self, noise_dim: int, attr_dim: int, hidden: int, feature_dim: int) -> None:
        super().__init__()
        self.hidden = nn.Linear(noise_dim + attr_dim, hidden)
        self.out = nn.Linear(hidden, feature_dim)
        self.modulated_dims = (noise_dim + attr_dim, hidden)

    def forward(self, z: Tensor, a: Tensor, params: list[tuple[Tensor, Tensor]]) -> Tensor:
        """``(T, n, Z)``, ``(T, n, A)``, one ``(w_j, b_j)`` pair ``(T, d_j)`` per layer -> ``(T, n, D)``."""
        (w0, b0), (w1, b1) = params
        o0 = modulate(torch.cat([z, a], dim=-1), w0, b0)  # Eq. 3 on the input o_0 = [z, a]
        o1 = modulate(nn.functional.leaky_relu(self.hidden(o0), 0.2), w1, b1)
        return torch.sigmoid(self.out(o1))  # the digits' pixel features lie in [0, 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    device = torch.device(args.device)
    gen = torch.Generator(device=device).manual_seed(args.seed)
    torch.manual_seed(args.seed)  # initial weights

    data = load_digits_zsl()
    features = torch.from_numpy(data.features).to(device)
    labels = torch.from_numpy(data.labels).to(device)
    semantics = torch.from_numpy(data.semantics).to(device)
    seen = torch.from_numpy(data.seen_classes).to(device)
    train_x, train_y = features[data.trainval], labels[data.trainval]
    # the targets of the moment match: each class's feature mean and standard deviation
    class_mean = torch.zeros(data.num_classes, data.feature_dim, device=device)
    class_std = torch.zeros_like(class_mean)
    for c in data.seen_classes:
        class_mean[c], class_std[c] = train_x[train_y == c].mean(0), train_x[train_y == c].std(0)
    noise_dim, n_way, shots, tasks = 8, 3, 16, 4

    generator = TinyGenerator(noise_dim, data.attr_dim, 64, data.feature_dim).to(device)
    modulator = AttributeModulator(data.attr_dim, generator.modulated_dims, hidden=32, dropout=0.0).to(device)
    optimizer = torch.optim.Adam([*generator.parameters(), *modulator.parameters()], lr=3e-3)

    for step in range(1, args.steps + 1):
        # T tasks of N seen classes each; the task's attribute set drives the modulation.
        classes = seen[
            torch.rand(tasks, seen.numel(), generator=gen, device=device).argsort(dim=1)[:, :n_way]
        ]
        task_attrs = semantics[classes]  # (T, N, A)
        params = modulator.parameters_for(task_attrs)  # [(w_j, b_j)], each (T, d_j)
        a = task_attrs.repeat_interleave(shots, dim=1)  # (T, N*K, A)
        z = torch.randn(tasks, n_way * shots, noise_dim, generator=gen, device=device)
        fake = generator(z, a, params).view(tasks, n_way, shots, -1)
        loss = (fake.mean(2) - class_mean[classes]).square().mean() + (
            fake.std(2) - class_std[classes]
        ).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 100 == 0 or step in (1, args.steps):
            print(f"step {step:4d}  moment-matching loss {loss.item():.4f}")

    # Inference: each unseen class is its own task, its attribute replicated N times.
    generator.eval()
    modulator.eval()
    unseen = torch.from_numpy(data.unseen_classes).to(device)
    with torch.no_grad():
        attrs = semantics[unseen]  # (U, A)
        params = modulator.parameters_for(attrs[:, None, :].expand(-1, n_way, -1))
        z = torch.randn(unseen.numel(), 100, noise_dim, generator=gen, device=device)
        synthetic = generator(z, attrs[:, None, :].expand(-1, 100, -1), params)  # (U, 100, D)
        prototypes = synthetic.mean(dim=1)  # nearest class mean of the synthetic features
        test_x, test_y = features[data.test_unseen], labels[data.test_unseen]
        predicted = unseen[torch.cdist(test_x, prototypes).argmin(dim=1)]
        per_class = torch.stack([(predicted[test_y == c] == c).float().mean() for c in unseen])
    names = ", ".join(data.class_names_of(data.unseen_classes))
    print(f"ZSL per-class top-1 on the unseen digits ({names}): {per_class.mean().item():.3f}")


if __name__ == "__main__":
    main()
