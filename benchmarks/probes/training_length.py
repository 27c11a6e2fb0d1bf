"""How long must a generator train on pretrained-CNN features? Fitting and transfer per checkpoint.

Trains each recipe's *selection model* (the data's validation view: the ``train`` classes) and,
at every checkpoint, measures its synthetic features without a classifier
(:func:`modgen.evaluate.quality.feature_quality`, one synthetic draw):

* **fit**: ``ncm_cosine_seen``: held-out samples of the ``train`` classes against their
  synthetic class means (does the generator reproduce the classes it trained on?), beside
  ``ncm_cosine_seen_real`` (the same with the real class means: what a perfect fit reaches);
* **transfer**: ``ncm_cosine_unseen`` on the ``val`` classes it never saw (what
  ``evaluation.checkpoint=val`` selects by).

Only the validation view is read: the test classes are never looked at.

Usage:
    python benchmarks/probes/training_length.py --dataset digits --recipes amaz,zsml,clswgan \\
        --episodes 2400 --every 200 --set data.options.features=imagenet
    python benchmarks/probes/training_length.py --smoke   # tiny networks, 4 episodes: a smoke test
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def curve(
    recipe: str,
    dataset: str,
    seed: int,
    episodes: int,
    every: int,
    overrides: list[str],
    *,
    smoke: bool = False,
    out: Path,
) -> list[dict[str, float]]:
    """Train ``recipe``'s selection model; the measures at each checkpoint."""
    import numpy as np
    import torch

    from modgen.data import load_dataset
    from modgen.evaluate.protocols import evaluation_seeds
    from modgen.evaluate.quality import feature_quality, real_class_means
    from modgen.evaluate.scoring import TestSplit
    from modgen.evaluate.sets import configured_synthetic_set
    from modgen.pipeline import resolve_spec, selection_spec, train_or_load
    from modgen.plugins import get_registries
    from modgen.testing.presets import tiny

    registries = get_registries(entry_points=False)
    sets = [
        *overrides,
        f"trainer.episodes={episodes}",
        f"run.checkpoint_every={every}",
        f"run.seed={seed}",
        "run.device=cpu",
    ]
    spec = resolve_spec(registries, recipe, dataset=dataset, overrides=sets)
    if smoke:
        spec = tiny(spec, registries)
    view = load_dataset(registries, selection_spec(spec).data)  # scaled on the train classes, as the pipeline
    test = TestSplit.of(view, "cpu")
    trainval = np.asarray(view.trainval)
    real = real_class_means(
        torch.as_tensor(view.features[trainval]), view.labels[trainval], view.seen_classes
    )
    rows: list[dict[str, float]] = []
    t0 = time.perf_counter()

    def on_checkpoint(episode: int, assembly: Any) -> None:
        gen = torch.Generator().manual_seed(evaluation_seeds(seed, 1)[0])
        cfg = spec.evaluation
        unseen = configured_synthetic_set(assembly, view, view.unseen_classes, cfg.zsl_samples, cfg, gen)
        seen = configured_synthetic_set(assembly, view, view.seen_classes, cfg.zsl_samples, cfg, gen)
        q = feature_quality(
            unseen, seen, view.unseen_classes, view.seen_classes, test, (), seen_real_means=real
        )
        rows.append({"episode": episode, "seconds": time.perf_counter() - t0, **q})

    train_or_load(
        selection_spec(spec),
        registries,
        out / f"{recipe}-s{seed}",
        view,
        device=torch.device("cpu"),
        on_checkpoint=on_checkpoint,
    )
    return rows


def main(argv: list[str] | None = None) -> dict[str, Any]:
    import torch

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="digits")
    p.add_argument("--recipes", default="amaz,zsml,clswgan", help="comma-separated recipes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--episodes", type=int, default=2400)
    p.add_argument("--every", type=int, default=200, help="episodes between checkpoints (measurements)")
    p.add_argument("--set", dest="overrides", action="append", default=[], help="further --set KEY=VALUE")
    p.add_argument("--smoke", action="store_true", help="tiny networks, 4 episodes, digits: a smoke test")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if args.smoke:
        args.recipes, args.episodes, args.every, args.dataset = "zsml", 4, 2, "digits"
        args.overrides = ["data.options.val_classes=[8, 9]", *args.overrides]
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchlib import git_commit, machine_info

    cpu = machine_info("cpu")["cpu_model"]
    print(
        f"commit {git_commit()}; {cpu}; 1 thread; dataset {args.dataset}, seed {args.seed}, --set {args.overrides}"
    )
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="training-length-") as tmp:
        for recipe in args.recipes.split(","):
            rows = curve(
                recipe,
                args.dataset,
                args.seed,
                args.episodes,
                args.every,
                args.overrides,
                smoke=args.smoke,
                out=Path(tmp),
            )
            out[recipe] = rows
            print(f"\n{recipe} (selection model: fit on the train classes, transfer to the val classes)\n")
            print(
                "| episode | s | NCM seen (fit) | NCM seen, real means | NCM val unseen (transfer) | mean gap seen |"
            )
            print("|---:|---:|---:|---:|---:|---:|")
            for r in rows:
                print(
                    f"| {r['episode']} | {r['seconds']:.0f} | {r['ncm_cosine_seen']:.1f} | "
                    f"{r['ncm_cosine_seen_real']:.1f} | {r['ncm_cosine_unseen']:.1f} | {r['mean_gap_seen']:.2f} |"
                )
            sys.stdout.flush()
    return out


if __name__ == "__main__":
    main()
