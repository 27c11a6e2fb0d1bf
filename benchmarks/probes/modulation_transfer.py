"""Does AMAZ's modulation carry over to new classes? Its synthetic val classes, modulated two ways.

Trains amaz's *selection model* (the validation view: the ``train`` classes) for each seed and
synthesises the ``val`` classes it never saw, modulated

* **own task** (the paper, Section II-E): each class is its own task, so the task encoder AP
  and the modulator AM see the new class's attributes;
* **train task**: every class modulated by one fixed task of ``train`` classes (the attributes
  the modulator was trained on), so only G's own input carries the new attributes;
* **train tasks, mean**: the mean modulated output over every ``n_way`` task of ``train``
  classes (``modgen.evaluate.synthesis`` applies a list of modulations the same way).

Reported: ``ncm_cosine_unseen`` on the val classes (chance 100 / their number). Only the
validation view is read: the test classes are never looked at.

Usage:
    python benchmarks/probes/modulation_transfer.py --dataset digits --seeds 0,1,2,3,4 \\
        --set data.options.features=imagenet
    python benchmarks/probes/modulation_transfer.py --smoke   # tiny networks, 2 episodes
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
from pathlib import Path


def measure(seed: int, dataset: str, overrides: list[str], out: Path, *, smoke: bool) -> dict[str, float]:
    """The selection model of ``seed``; val-class cosine NCM under each modulation."""
    import numpy as np
    import torch

    from modgen.data import load_dataset
    from modgen.evaluate.protocols import evaluation_seeds
    from modgen.evaluate.quality import ncm_accuracy
    from modgen.evaluate.synthesis import _mean_modulation
    from modgen.pipeline import resolve_spec, selection_spec, train_or_load
    from modgen.plugins import get_registries
    from modgen.testing.presets import tiny

    registries = get_registries(entry_points=False)
    spec = resolve_spec(registries, "amaz", dataset=dataset, overrides=[*overrides, f"run.seed={seed}"])
    if smoke:
        spec = tiny(spec, registries)
    view = load_dataset(registries, selection_spec(spec).data)  # scaled on the train classes, as the pipeline
    model = train_or_load(
        selection_spec(spec), registries, out / f"s{seed}", view, device=torch.device("cpu")
    )
    asm = model.assembly
    asm.eval()
    n_way = int(spec.task_sampler.params["n_way"])
    sem = torch.as_tensor(view.semantics, dtype=torch.float32)
    val, train = view.unseen_classes, view.seen_classes
    tu = np.asarray(view.test_unseen)
    X, y = view.features[tu], view.labels[tu]
    n, Z, A = spec.evaluation.zsl_samples, int(asm.noise_dim), int(asm.attr_dim)
    train_tasks = [list(t) for t in itertools.combinations(train.tolist(), n_way)]
    rows: dict[str, float] = {}
    for how in ("own task", "train task", "train tasks, mean"):
        gen = torch.Generator().manual_seed(evaluation_seeds(seed, 1)[0])
        means = []
        with torch.no_grad():
            for c in val:
                a = sem[int(c)][None, :]
                if how == "own task":
                    mod = asm.modulator(a[:, None, :].expand(1, n_way, A))
                elif how == "train task":
                    mod = asm.modulator(sem[train_tasks[0]][None])
                else:
                    mod = _mean_modulation([asm.modulator(sem[t][None]) for t in train_tasks])
                z = torch.randn((1, n, Z), generator=gen)
                means.append(asm.generator(z, a[:, None, :].expand(1, n, A), mod).reshape(n, -1).mean(0))
        rows[how] = ncm_accuracy(torch.stack(means), val, X, y, metric="cosine")
    return rows


def main(argv: list[str] | None = None) -> dict[int, dict[str, float]]:
    import torch

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="digits")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    p.add_argument("--set", dest="overrides", action="append", default=[], help="further --set KEY=VALUE")
    p.add_argument("--smoke", action="store_true", help="tiny networks, 2 episodes, seed 0: a smoke test")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if args.smoke:
        args.seeds = "0"
        args.overrides = ["data.options.val_classes=[8, 9]", "trainer.episodes=2", *args.overrides]
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchlib import git_commit, machine_info

    print(
        f"commit {git_commit()}; {machine_info('cpu')['cpu_model']}; 1 thread; amaz on {args.dataset}'s "
        f"validation view, --set {args.overrides}\n"
    )
    out: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="modulation-transfer-") as tmp:
        for seed in (int(s) for s in args.seeds.split(",")):
            out[seed] = measure(seed, args.dataset, args.overrides, Path(tmp), smoke=args.smoke)
    hows = list(next(iter(out.values())))
    print("| seed | " + " | ".join(f"val NCM, {h}" for h in hows) + " |")
    print("|---:|" + "---:|" * len(hows))
    for seed, row in out.items():
        print(f"| {seed} | " + " | ".join(f"{row[h]:.1f}" for h in hows) + " |")
    return out


if __name__ == "__main__":
    main()
