"""Where the default run's time goes: training against evaluation.

The README's main job (``modgen train --recipe amaz`` on the embedded digits, its preset and the
evaluation defaults) with ``--eval-seeds`` evaluation seeds, run ``--repeats`` times through
:func:`modgen.pipeline.run` in this process with one torch thread. Phases, from the run's own
clocks and the log lines' times:

* ``selection``: the classifiers' settings chosen on the validation classes (a second generator
  trained on the ``train`` classes, then its classifier grid fitted and scored);
* ``training``: the final generator's meta-training (``TrainOutcome.seconds``);
* ``evaluation``: ZSL, GZSL, the classifier-free measures and the closed-form floor with every
  evaluation seed (the sum of ``EvaluationResult.seconds``), with its largest parts.

Evaluation is within budget when it takes no longer than training (the ``evaluation /
training`` column stays at or below 1).

Usage:
    python benchmarks/default_run.py --eval-seeds 5 --repeats 3 [--doc]
    python benchmarks/default_run.py --smoke   # tiny networks, 2 episodes, one repeat: a smoke test
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (  # noqa: E402
    SMOKE_EVALUATION,
    add_doc_flag,
    add_smoke_flag,
    commit_for,
    machine_info,
    publish,
    today,
)


def measure(eval_seeds: int, recipe: str, dataset: str, *, smoke: bool = False) -> dict[str, Any]:
    """One default run; its phases in seconds. ``smoke``: the ``tiny`` preset, 2 episodes and
    :data:`benchlib.SMOKE_EVALUATION` (the same phases, at a size that checks they run)."""
    from modgen.pipeline import resolve_spec, run
    from modgen.plugins import get_registries

    registries = get_registries()
    small = [*SMOKE_EVALUATION, "trainer.episodes=2"] if smoke else []
    spec = resolve_spec(
        registries,
        recipe,
        dataset=dataset,
        preset="tiny" if smoke else None,
        overrides=[*small, f"evaluation.seeds={eval_seeds}"],
    )
    stamps: list[tuple[float, str]] = []
    with tempfile.TemporaryDirectory(prefix="modgen-default-run-") as tmp:
        t0 = time.perf_counter()
        done = run(
            spec, registries, Path(tmp) / "run", log=lambda line: stamps.append((time.perf_counter(), line))
        )
        total = time.perf_counter() - t0
    assert done.result is not None
    parts = dict(done.result.seconds)
    training = done.outcome.seconds
    evaluation = sum(parts.values())
    return {
        "total": total,
        "training": training,
        "evaluation": evaluation,
        "selection_and_loading": total - training - evaluation,
        "parts": parts,
        "zsl": dict(done.result.zsl),
        "log": [f"{t - t0:7.1f} s  {line}" for t, line in stamps],
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--eval-seeds", type=int, default=None, help="evaluation seeds (default 5; smoke 1)")
    p.add_argument("--repeats", type=int, default=None, help="whole runs, medians (default 3; smoke 1)")
    p.add_argument("--recipe", default="amaz")
    p.add_argument("--dataset", default="digits")
    add_doc_flag(p)
    add_smoke_flag(p, "the tiny preset, 2 episodes, one repeat, one evaluation seed with the SVM only")
    args = p.parse_args(argv)
    if args.smoke and args.doc:
        p.error("--smoke is a smoke test, not a measurement: it writes nothing into docs/; drop --doc")
    args.eval_seeds = args.eval_seeds or (1 if args.smoke else 5)
    args.repeats = args.repeats or (1 if args.smoke else 3)
    commit = commit_for(args.doc)
    import torch

    torch.set_num_threads(1)
    runs = []
    for r in range(args.repeats):
        runs.append(measure(args.eval_seeds, args.recipe, args.dataset, smoke=args.smoke))
        m = runs[-1]
        print(
            f"repeat {r}: total {m['total']:.1f} s, training {m['training']:.1f} s, "
            f"evaluation {m['evaluation']:.1f} s, selection + loading {m['selection_and_loading']:.1f} s"
        )

    def med(key: str) -> float:
        return statistics.median(m[key] for m in runs)

    part_names = sorted(runs[0]["parts"], key=lambda k: -runs[0]["parts"][k])
    machine = machine_info("cpu")
    lines = [
        f"`modgen train --recipe {args.recipe}` on {args.dataset} (its preset, evaluation defaults, "
        f"`evaluation.seeds={args.eval_seeds}`), one torch thread; wall seconds, medians of {args.repeats} runs; "
        f"commit `{commit}`; `python benchmarks/default_run.py --eval-seeds {args.eval_seeds} --repeats {args.repeats}"
        f"{' --smoke' if args.smoke else ''}`; "
        f"{today()}, {machine['cpu_model']}, load average {', '.join(map(str, machine['load_average']))}."
        + (
            " SMOKE settings (tiny preset, 2 episodes): a smoke test, not a measurement."
            if args.smoke
            else ""
        ),
        "",
        "| whole run | selection + loading | training | evaluation | evaluation / training |",
        "|---:|---:|---:|---:|---:|",
        f"| {med('total'):.1f} | {med('selection_and_loading'):.1f} | {med('training'):.1f} | {med('evaluation'):.1f} "
        f"| {med('evaluation') / med('training'):.2f} |",
        "",
        "Evaluation's parts (median s): "
        + ", ".join(f"{k} {statistics.median(m['parts'].get(k, 0.0) for m in runs):.1f}" for k in part_names)
        + ".",
    ]
    body = "\n".join(lines) + "\n"
    return publish(
        "default_run",
        body,
        commit=commit,
        machine=machine,
        doc=args.doc,
        json_name="default-run.json",
        key="speed:default-run",
        eval_seeds=args.eval_seeds,
        runs=runs,
    )


if __name__ == "__main__":
    main()
