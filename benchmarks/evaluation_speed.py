"""Evaluation time, side by side: this checkout against an older commit, on the same data.

The data: a 9-class xlsa17-layout folder with 1280-d features (6 seen classes, 2 of them the
validation classes, 3 unseen; 200 samples per class), written by this script. Each version, in
its own process (the older one from a ``git worktree`` of ``--old``; ``--old .`` times this
checkout against itself and needs no git history), trains the same small zsml model
(``--episodes``) and then times its evaluation:

* ``same settings``: the same protocol: the four final classifiers with their grids searched on
  the test split (``selection=test``: every grid point fitted for ZSL and for GZSL), one
  evaluation seed, 100/300 synthetic samples, each version's classifiers at their defaults (the
  new softmax classifiers train to convergence: 300 steps where the old ones took 40-220);
* ``same settings, the old softmax schedule``: the same, with the new version's softmax
  classifiers set to the old one's (20 epochs, hidden 512, its grid): identical computation
  asked of both, so the difference is the evaluation's machinery;
* ``defaults``: each version's own default protocol (the old one: selection on the validation
  view of the same model, one seed; the new one: ``select()`` on a model trained on the train
  classes — its training is not counted — and three evaluation seeds).

Usage:
    python benchmarks/evaluation_speed.py --old f57d2f8 [--doc]
    python benchmarks/evaluation_speed.py --smoke   # this checkout against itself, tiny sizes: a smoke test
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))

REPO = Path(__file__).resolve().parents[1]


#: ``--smoke``: the data's feature width and samples per class.
SMOKE_DATA = {"dim": 16, "per_class": 20}


def write_data(folder: Path, *, dim: int = 1280, per_class: int = 200, seed: int = 0) -> Path:
    """A 9-class xlsa17-layout folder ``folder/NINE`` (att_splits.mat + res101.mat)."""
    import numpy as np
    import scipy.io

    rng = np.random.default_rng(seed)
    n_cls, n_att = 9, 24
    att = rng.random((n_att, n_cls))
    att /= np.linalg.norm(att, axis=0, keepdims=True)
    proj = rng.normal(size=(n_att, dim)) / np.sqrt(n_att)
    means = np.maximum(att.T @ proj * 3.0, 0.0)
    labels = np.repeat(np.arange(n_cls), per_class)
    feats = np.maximum(means[labels] + rng.normal(scale=0.5, size=(labels.size, dim)), 0.0)
    seen, val = [0, 1, 2, 3, 4, 5], [4, 5]  # the unseen classes: 6, 7, 8
    idx = np.arange(labels.size)
    is_seen = np.isin(labels, seen)
    rank = np.concatenate([np.arange(per_class)] * n_cls)
    trainval = idx[is_seen & (rank < int(0.8 * per_class))]
    test_seen = idx[is_seen & (rank >= int(0.8 * per_class))]
    test_unseen = idx[~is_seen]
    train = idx[is_seen & ~np.isin(labels, val)]
    valloc = idx[np.isin(labels, val)]
    out = folder / "NINE"
    out.mkdir(parents=True, exist_ok=True)
    col = lambda a: (np.asarray(a) + 1).reshape(-1, 1)  # noqa: E731 - 1-based column vectors
    scipy.io.savemat(
        out / "att_splits.mat",
        {
            "att": att,
            "original_att": att * 100,
            "allclasses_names": np.array([[f"c{i}"] for i in range(n_cls)], dtype=object),
            "trainval_loc": col(trainval),
            "test_seen_loc": col(test_seen),
            "test_unseen_loc": col(test_unseen),
            "train_loc": col(train),
            "val_loc": col(valloc),
        },
    )
    scipy.io.savemat(out / "res101.mat", {"features": feats.T.astype(np.float32), "labels": col(labels)})
    return out


WORKER = r"""
import json, sys, time, torch
torch.set_num_threads(1)
folder, episodes, new = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "new"
extra = json.loads(sys.argv[4])  # more overrides (--smoke's sizes); the old version's worker takes none
from modgen.data.xlsa17 import load_xlsa17
from modgen.plugins import get_registries
regs = get_registries(entry_points=False)
data = load_xlsa17(folder, "NINE")
small = ["generator.hidden=64", "critic.hidden=[64, 32]", "aux_classifier.hidden=[64, 32]",
         "attribute_decoder.hidden=[64, 32]", "task_sampler.n_way=2", "task_sampler.k_support=3",
         "task_sampler.k_query=2", "task_sampler.tasks=2"]
out = {}
if new:
    from modgen.pipeline import resolve_spec
    from modgen.train.loop import train
    from modgen.evaluate import evaluate, select
    import attrs, tempfile
    spec = resolve_spec(regs, "zsml", data=folder, overrides=[*small, f"trainer.episodes={episodes}", "run.device=cpu", *extra])
    with tempfile.TemporaryDirectory() as d:
        model = train(spec, regs, data=data, out=d + "/m", device="cpu")
        view = data.validation_view()
        sel_model = train(attrs.evolve(spec, data=attrs.evolve(spec.data, validation=True)), regs, data=view, out=d + "/s", device="cpu")
    same = attrs.evolve(spec.evaluation, selection="test", seeds=1)
    t = time.perf_counter(); evaluate(model.assembly, data, same, regs, seed=0); out["same settings"] = time.perf_counter() - t
    former = {"hidden": 512, "epochs": 20, "lr": 1e-3, "weight_decay": 0.0, "schedule": "constant",
              "grid": {"lr": [1e-4, 1e-3, 1e-2]}}
    paper = attrs.evolve(same, classifier_params={"softmax": former, "weighted-softmax": former})
    t = time.perf_counter(); evaluate(model.assembly, data, paper, regs, seed=0)
    out["same settings, the old softmax schedule"] = time.perf_counter() - t
    t = time.perf_counter()
    chosen = select(sel_model.assembly, view, spec.evaluation, regs, seed=0)
    evaluate(model.assembly, data, spec.evaluation, regs, seed=0, selection=chosen)
    out["defaults"] = time.perf_counter() - t
else:
    from modgen.config import apply_overrides
    from modgen.recipes import zsml
    from modgen.train.loop import train
    from modgen.evaluate import evaluate
    import attrs, tempfile
    spec = apply_overrides(zsml(), [*small, f"trainer.episodes={episodes}", 'trainer.device="cpu"', 'data.dataset="xlsa17"',
                                    'data.name="NINE"', f'data.root="{folder}"'])
    with tempfile.TemporaryDirectory() as d:
        model = train(spec, regs, data=data, out=d + "/m")
    same = attrs.evolve(spec.evaluation, selection="test")
    t = time.perf_counter(); evaluate(model.assembly, data, same, regs, seed=0); out["same settings"] = time.perf_counter() - t
    out["same settings, the old softmax schedule"] = out["same settings"]
    t = time.perf_counter(); evaluate(model.assembly, data, spec.evaluation, regs, seed=0); out["defaults"] = time.perf_counter() - t
print("RESULT " + json.dumps(out))
"""


def _time_version(
    tree: Path, folder: Path, episodes: int, new: bool, extra: list[str] | tuple[str, ...] = ()
) -> dict[str, float]:
    env = {"PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    import os

    env = {**os.environ, **env}
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            WORKER,
            str(folder),
            str(episodes),
            "new" if new else "old",
            json.dumps(list(extra)),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tempfile.gettempdir(),
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(
            f"the {'new' if new else 'old'} version failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
        )
    return json.loads(lines[-1][7:])


def _old_checkout(old: str, where: Path) -> Path:
    """A ``git worktree`` of commit ``old`` at ``where``; a clear error where the commit is absent
    (a shallow clone, a copy without ``.git``)."""
    found = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--verify", "--quiet", f"{old}^{{commit}}"],
        capture_output=True,
        text=True,
    )
    if found.returncode != 0:
        raise SystemExit(
            f"--old {old}: no such commit in {REPO} (a shallow clone or a copy without git history?); "
            "fetch it (git fetch --unshallow), or give --old . to time this checkout against itself"
        )
    added = subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", str(where), old],
        capture_output=True,
        text=True,
    )
    if added.returncode != 0:
        raise SystemExit(f"--old {old}: git worktree add failed:\n{added.stderr[-2000:]}")
    return where


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from benchlib import (
        SMOKE_EVALUATION,
        add_doc_flag,
        add_smoke_flag,
        commit_for,
        machine_info,
        publish,
        today,
    )

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--old",
        default=None,
        help="the commit to compare with (default f57d2f8); '.' for this checkout itself (smoke: '.')",
    )
    p.add_argument(
        "--episodes", type=int, default=None, help="training episodes of each model (default 50; smoke 2)"
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="alternate old/new this many times; medians (default 3; smoke 1)",
    )
    add_doc_flag(p)
    add_smoke_flag(p, "this checkout against itself, 16-d data, 2 episodes, one round, a small evaluation")
    args = p.parse_args(argv)
    if args.smoke and args.doc:
        p.error("--smoke is a smoke test, not a measurement: it writes nothing into docs/; drop --doc")
    args.old = args.old or ("." if args.smoke else "f57d2f8")
    args.episodes = args.episodes or (2 if args.smoke else 50)
    args.rounds = args.rounds or (1 if args.smoke else 3)
    extra = [*SMOKE_EVALUATION] if args.smoke else []
    commit = commit_for(args.doc)
    itself = args.old == "."
    with tempfile.TemporaryDirectory(prefix="modgen-evalspeed-") as tmp:
        old_tree = REPO if itself else _old_checkout(args.old, Path(tmp) / "old")
        try:
            folder = write_data(Path(tmp) / "data", **(SMOKE_DATA if args.smoke else {}))
            runs: dict[str, list[dict[str, float]]] = {"old": [], "new": []}
            for _ in range(args.rounds):
                runs["old"].append(_time_version(old_tree, folder, args.episodes, new=itself, extra=extra))
                runs["new"].append(_time_version(REPO, folder, args.episodes, new=True, extra=extra))
        finally:
            if not itself:
                subprocess.run(
                    ["git", "-C", str(REPO), "worktree", "remove", "--force", str(old_tree)],
                    capture_output=True,
                )
    import statistics

    med = {v: {k: statistics.median(r[k] for r in runs[v]) for k in runs[v][0]} for v in runs}
    machine = machine_info("cpu")
    old = "this checkout" if itself else f"`{args.old}`"
    dim = SMOKE_DATA["dim"] if args.smoke else 1280
    lines = [
        f"Evaluation of a small zsml model on a 9-class, {dim}-d xlsa17-layout set, one CPU thread, medians of "
        f"{args.rounds} alternating rounds; {old} against `{commit}`; `python benchmarks/evaluation_speed.py "
        f"{' '.join(argv if argv is not None else sys.argv[1:])}`; {today()}, {machine['cpu_model']}, load average "
        f"{', '.join(map(str, machine['load_average']))}."
        + (" SMOKE settings: a smoke test, not a measurement." if args.smoke else ""),
        "",
        f"| settings | {old} (s) | this version (s) | ratio |",
        "|---|---:|---:|---:|",
    ]
    for k in med["old"]:
        lines.append(
            f"| {k} | {med['old'][k]:.1f} | {med['new'][k]:.1f} | {med['new'][k] / med['old'][k]:.2f} |"
        )
    body = "\n".join(lines) + "\n"
    return publish(
        "evaluation_speed",
        body,
        commit=commit,
        machine=machine,
        doc=args.doc,
        json_name="evaluation-speed.json",
        key="speed:evaluation",
        old=args.old,
        runs=runs,
        median=med,
    )


if __name__ == "__main__":
    main()
