"""One run's training against its evaluation and selection, with the closed-form floor broken out.

The data: the 9-class, 1280-d xlsa17-layout folder of ``evaluation_speed.py`` (6 seen classes,
2 of them the validation classes, 3 unseen; 200 samples per class). One run of ``--recipe`` with
the digits preset (its networks, 600 episodes; ``--episodes`` overrides), the evaluation defaults
and one torch thread, stage by stage as :func:`modgen.pipeline.run` does it, each stage timed:

* ``training``: the selection generator (on the ``train`` classes) and the final generator;
* ``selection``: :func:`modgen.evaluate.select` (every classifier's grid on the validation view,
  every evaluation seed);
* ``evaluation``: :func:`modgen.evaluate.evaluate` with the chosen settings, by part;
* ``floor``: :func:`modgen.baselines.floor_measurements` (ESZSL and ridge, selected on the
  validation view, refitted, scored), and beside it the same floor the way it was computed before
  (a direct solve per point of the former 1e-3..1e3 grids), on the same data in the same process.

The target (issue 22): evaluation plus selection, the floor included, at most the training time.

Usage:
    python benchmarks/floor_speed.py [--doc]
    python benchmarks/floor_speed.py --smoke   # 16-d data, tiny preset, 2 episodes: a smoke test
"""

from __future__ import annotations

import argparse
import itertools
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
from evaluation_speed import SMOKE_DATA, write_data  # noqa: E402

#: The grids of the floor before the one-decomposition search: powers of ten 1e-3..1e3.
FORMER_GRIDS = {
    "eszsl": {"gamma": [10.0**k for k in range(-3, 4)], "lambda": [10.0**k for k in range(-3, 4)]},
    "ridge": {"alpha": [10.0**k for k in range(-3, 4)]},
}


def former_floor(data: Any) -> dict[str, float]:
    """The floor as computed before: every point of :data:`FORMER_GRIDS` fitted by its own direct
    solve on the validation view, the best refitted on ``trainval`` (once for ZSL, once for GZSL,
    as before). Returns each method's ZSL top-1 (%), to check against the new one's numbers."""
    import numpy as np

    from modgen.baselines import fit_predict

    view = data.validation_view()
    out = {}
    for method, grid in FORMER_GRIDS.items():
        points = [dict(zip(grid, c, strict=True)) for c in itertools.product(*grid.values())]

        scores = [_zsl(method, view, p) for p in points]
        best = points[int(np.argmax(scores))]
        every = np.union1d(data.seen_classes, data.unseen_classes)
        X, y = data.features[data.trainval], data.labels[data.trainval]
        fit_predict(
            method,
            best,
            X,
            y,
            data.semantics,
            every,
            [data.features[data.test_unseen], data.features[data.test_seen]],
        )
        out[method] = 100.0 * _zsl(method, data, best)
    return out


def _zsl(method: str, d: Any, point: dict[str, float]) -> float:
    """ZSL top-1 (fraction) of ``method`` at ``point``: fitted on ``d.trainval``, among its unseen classes."""
    from modgen.baselines import fit_predict
    from modgen.evaluate.metrics import per_class_top1

    X, y = d.features[d.trainval], d.labels[d.trainval]
    (pred,) = fit_predict(method, point, X, y, d.semantics, d.unseen_classes, [d.features[d.test_unseen]])
    return per_class_top1(d.labels[d.test_unseen], pred)


def measure(recipe: str, episodes: int | None, *, smoke: bool) -> dict[str, Any]:
    """One run on a fresh 9-class folder, stage by stage; seconds per stage and part."""
    import torch

    from modgen.baselines import floor_measurements
    from modgen.data.xlsa17 import load_xlsa17
    from modgen.evaluate import evaluate, select
    from modgen.pipeline import resolve_spec, selection_spec
    from modgen.plugins import get_registries
    from modgen.train.loop import train

    torch.set_num_threads(1)
    regs = get_registries(entry_points=False)
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="modgen-floor-speed-") as tmp:
        folder = write_data(Path(tmp) / "data", **(SMOKE_DATA if smoke else {}))
        data = load_xlsa17(folder.parent, folder.name)
        overrides = [*SMOKE_EVALUATION, "trainer.episodes=2"] if smoke else []
        spec = resolve_spec(
            regs,
            recipe,
            data=folder,
            preset="tiny" if smoke else "digits",
            overrides=overrides,
            episodes=episodes,
            device="cpu",
        )
        view = data.validation_view()
        t = time.perf_counter()
        sel_model = train(selection_spec(spec), regs, data=view, out=Path(tmp) / "s", device="cpu")
        seconds["training: selection generator"] = time.perf_counter() - t
        t = time.perf_counter()
        model = train(spec, regs, data=data, out=Path(tmp) / "m", device="cpu")
        seconds["training: final generator"] = time.perf_counter() - t
        t = time.perf_counter()
        chosen = select(sel_model.assembly, view, spec.evaluation, regs, seed=spec.run.seed)
        seconds["selection"] = time.perf_counter() - t
        t = time.perf_counter()
        result = evaluate(model.assembly, data, spec.evaluation, regs, seed=spec.run.seed, selection=chosen)
        seconds["evaluation"] = time.perf_counter() - t
        t = time.perf_counter()
        floor = floor_measurements(data)
        seconds["floor"] = time.perf_counter() - t
        t = time.perf_counter()
        former = former_floor(data)
        seconds["floor, former per-point solves"] = time.perf_counter() - t
    return {
        "episodes": int(model.episodes),
        "seconds": seconds,
        "evaluation_parts": dict(result.seconds),
        "zsl": dict(result.zsl),
        "floor": floor,
        "former_floor_zsl": former,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--recipe", default="amaz", help="the recipe (default amaz)")
    p.add_argument("--episodes", type=int, default=None, help="training episodes (default: the preset's 600)")
    add_doc_flag(p)
    add_smoke_flag(p, "16-d data, the tiny preset, 2 episodes, one evaluation seed with the SVM only")
    args = p.parse_args(argv)
    if args.smoke and args.doc:
        p.error("--smoke is a smoke test, not a measurement: it writes nothing into docs/; drop --doc")
    commit = commit_for(args.doc)
    m = measure(args.recipe, args.episodes, smoke=args.smoke)
    s = m["seconds"]
    training = s["training: selection generator"] + s["training: final generator"]
    after = s["selection"] + s["evaluation"] + s["floor"]
    machine = machine_info("cpu")
    dim = SMOKE_DATA["dim"] if args.smoke else 1280
    command = " ".join(["python benchmarks/floor_speed.py", *(argv if argv is not None else sys.argv[1:])])
    lines = [
        f"One `{args.recipe}` run ({'tiny' if args.smoke else 'digits'} preset, {m['episodes']} episodes, "
        f"evaluation defaults) on the 9-class, {dim}-d xlsa17-layout set, one CPU thread, wall seconds; "
        f"commit `{commit}`; `{command}`; {today()}, {machine['cpu_model']}, load average "
        f"{', '.join(map(str, machine['load_average']))}."
        + (" SMOKE settings: a smoke test, not a measurement." if args.smoke else ""),
        "",
        "| training (both generators) | selection | evaluation | floor | selection + evaluation + floor "
        "| / training |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {training:.1f} | {s['selection']:.1f} | {s['evaluation']:.1f} | {s['floor']:.2f} | {after:.1f} "
        f"| {after / training:.2f} |",
        "",
        f"Training: selection generator {s['training: selection generator']:.1f}, final generator "
        f"{s['training: final generator']:.1f}. Evaluation's parts: "
        + ", ".join(f"{k} {v:.1f}" for k, v in sorted(m["evaluation_parts"].items(), key=lambda kv: -kv[1]))
        + f". The floor the former way (a direct solve per point of the 1e-3..1e3 grids): "
        f"{s['floor, former per-point solves']:.2f} s. Floor chosen: "
        + "; ".join(
            f"{k} {v['params']} ZSL {v['zsl']:.1f}"
            + (f" (on a grid edge: {', '.join(v['edge'])})" if v["edge"] else " (inside the grid)")
            + f", former grid ZSL {m['former_floor_zsl'][k]:.1f}"
            for k, v in m["floor"].items()
        )
        + ".",
    ]
    body = "\n".join(lines) + "\n"
    return publish(
        "floor_speed",
        body,
        commit=commit,
        machine=machine,
        doc=args.doc,
        json_name="floor-speed.json",
        key="speed:floor",
        recipe=args.recipe,
        **m,
    )


if __name__ == "__main__":
    main()
