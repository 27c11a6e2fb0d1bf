"""Accuracy of the recipes: recipes x data sets x final classifiers x seeds -> Markdown tables.

For each data set and recipe, every seed is one :func:`modgen.pipeline.run`, exactly what
``modgen train`` runs: the spec from :func:`modgen.pipeline.resolve_spec` (the recipe, the data
set's preset, then ``--episodes``, the seed, the device and ``--set``), trained, then evaluated
with the recipe's evaluation config (ZSL per-class top-1, GZSL U/S/H, each the mean over the
evaluation seeds; the final classifiers' settings chosen as ``evaluation.selection`` says). The
tables give mean +- std over training seeds, in percent, with the training time. A seed whose
training diverges is reported and left out of the means.

Each data set's table is written into ``docs/benchmarks.md`` between the markers
``<!-- accuracy:<dataset>:begin -->`` and ``<!-- accuracy:<dataset>:end -->`` (appended to the
Results section when they are missing), with the date, the machine, the commit and the command.
The JSON of every run goes to ``benchmarks/results/accuracy-<dataset>.json``.

Usage:
    python benchmarks/accuracy.py --datasets digits --seeds 3               # every recipe
    python benchmarks/accuracy.py --datasets fashion-mnist --recipes amaz,zsml,clswgan --seeds 3
    python benchmarks/accuracy.py --xlsa17 /data/xlsa17/AWA2 --dataset AWA2 --recipes amaz
    python benchmarks/accuracy.py --smoke              # amaz on digits, --quick sizes: a smoke test

Example:
    >>> result = main(["--quick", "--no-doc", "--json-dir", "/tmp/acc"])  # doctest: +SKIP
    >>> result["datasets"][0]["recipes"][0]["recipe"]  # doctest: +SKIP
    'amaz'
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (  # noqa: E402
    DEFAULT_DOC_PAGE,
    add_smoke_flag,
    git_commit,
    machine_info,
    resolve_device,
    today,
    write_doc_block,
    write_json,
)

from modgen.errors import ConfigError  # noqa: E402

__all__ = ["DEFAULT_DOC", "run_dataset", "markdown_table", "write_doc_block", "main"]

#: The page the tables go into.
DEFAULT_DOC = DEFAULT_DOC_PAGE

#: The data sets run when ``--datasets`` is not given (fashion-mnist only where installed).
DEFAULT_DATASETS = ("digits", "fashion-mnist")

#: ``--quick``: evaluation sizes of a smoke test (not a measurement); the networks and tasks get
#: the ``tiny`` preset's sizes and the plain trainer small batches (:func:`quick`).
QUICK_OVERRIDES = [
    "run.log_every=1",
    'evaluation.classifiers=["svm"]',
    "evaluation.zsl_samples=5",
    "evaluation.gzsl_samples=5",
    "evaluation.retrieval_k=[1]",
    "evaluation.seeds=1",
    "evaluation.selection=none",
    "evaluation.classifier_params.svm.max_iter=20",
]


def quick(spec: Any, registries: Any) -> Any:
    """``spec`` at smoke-test sizes: the ``tiny`` preset, and 8-sample batches and 1 critic step
    for trainers that take them (the plain trainer)."""
    from modgen.recipes import tune
    from modgen.testing.presets import tiny

    return tune(tiny(spec, registries), registries, trainer={"batch_size": 8, "critic_iters": 1})


def _fashion_installed() -> bool:
    from modgen.data.fashion import FASHION_MNIST_DIR

    return (Path(FASHION_MNIST_DIR) / "train-images-idx3-ubyte.gz").is_file()


def run_dataset(
    dataset: str,
    recipes: list[str],
    *,
    seeds: list[int],
    episodes: int | None,
    device: str,
    overrides: list[str],
    registries: Any,
    data_root: Path | None = None,
    workdir: Path,
    log: Any = print,
    small: bool = False,
) -> dict[str, Any]:
    """Train and evaluate every recipe on ``dataset`` for every seed (one pipeline run each).

    Args:
        small: apply :func:`quick` after the data set's preset (``--quick``).

    Returns:
        ``{"dataset", "recipes": [{"recipe", "episodes", "train_seconds", "eval_seconds",
        "aggregate", "runs"}]}`` (``aggregate`` as :func:`modgen.evaluate.aggregate`, percent);
        ``eval_seconds`` is each run's time beside training (selection and evaluation).
    """
    from modgen.data import load_dataset
    from modgen.errors import TrainingDivergedError
    from modgen.evaluate import aggregate
    from modgen.pipeline import resolve_spec, run

    flags = [f"trainer.episodes={episodes}"] if episodes is not None else []
    data = None
    out: dict[str, Any] = {"dataset": dataset, "recipes": []}
    for recipe in recipes:
        results, train_s, eval_s, n_episodes = [], [], [], None
        diverged: list[dict[str, Any]] = []
        for seed in seeds:
            spec = resolve_spec(
                registries,
                recipe,
                dataset=dataset,
                data=data_root,
                overrides=[*flags, f"run.seed={seed}", f"run.device={device}", *overrides],
            )
            if small:
                spec = quick(spec, registries)
            if data is None:
                data = load_dataset(registries, spec.data)
            n_episodes = spec.trainer.params["episodes"]
            t0 = time.perf_counter()
            try:
                done = run(spec, registries, workdir / f"{dataset}-{recipe}-{seed}", data=data)
            except TrainingDivergedError as err:
                # a diverged seed is a result too: reported, left out of the means
                diverged.append({"seed": seed, "error": str(err)})
                log(f"  {dataset} {recipe} seed {seed}: DIVERGED: {err}")
                continue
            outcome, result = done.outcome, done.result
            eval_s.append(time.perf_counter() - t0 - outcome.seconds)
            train_s.append(outcome.seconds)
            results.append(result)
            best = max(result.zsl.values()) if result.zsl else float("nan")
            log(
                f"  {dataset} {recipe} seed {seed}: {n_episodes} episodes in {outcome.seconds:.1f} s, "
                f"eval {eval_s[-1]:.1f} s, best ZSL top-1 {best:.1f}%"
            )
        out["recipes"].append(
            {
                "recipe": recipe,
                "episodes": n_episodes,
                "seeds": seeds,
                "train_seconds": train_s,
                "eval_seconds": eval_s,
                "aggregate": aggregate(results) if results else None,
                "diverged": diverged,
                "runs": [r.to_dict() for r in results],
            }
        )
    return out


def _pm(stat: dict[str, float], n: int) -> str:
    from modgen.report import format_stat

    return format_stat(stat, n)


def markdown_table(ds: dict[str, Any], *, header: str) -> str:
    """One data set's table: a row per recipe and final classifier."""
    lines = [f"### {ds['dataset']}", "", header, ""]
    lines += [
        "| recipe | classifier | ZSL top-1 | GZSL U | GZSL S | GZSL H | episodes | train s / seed |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    notes = []
    for r in ds["recipes"]:
        bad = r.get("diverged") or []
        if bad:
            seeds = ", ".join(str(d["seed"]) for d in bad)
            notes.append(
                f"{r['recipe']}: seed{'s' if len(bad) > 1 else ''} {seeds} diverged ({bad[0]['error'].split(';')[0].split(' of run ')[0]}) "
                f"and {'are' if len(bad) > 1 else 'is'} left out of its means."
            )
        agg = r["aggregate"]
        if agg is None:
            lines.append(f"| {r['recipe']} | - | diverged | - | - | - | {r['episodes']} | - |")
            continue
        n = agg["n_seeds"]
        secs = sum(r["train_seconds"]) / max(len(r["train_seconds"]), 1)
        for clf, zsl in agg["zsl"].items():
            g = agg["gzsl"].get(clf)
            gz = [_pm(g[m], n) for m in ("u", "s", "h")] if g else ["-", "-", "-"]
            lines.append(
                f"| {r['recipe']} | {clf} | {_pm(zsl, n)} | {' | '.join(gz)} | {r['episodes']} | {secs:.0f} |"
            )
    selected = {r["aggregate"]["selected_on"] for r in ds["recipes"] if r["aggregate"]}
    lines += [
        "",
        f"Per-class mean top-1 in %, mean ± std over training seeds (each the mean of "
        f"{' / '.join(sorted({str(r['aggregate']['eval_seeds']) for r in ds['recipes'] if r['aggregate']})) or '-'} "
        f"evaluation seeds); classifier hyper-parameters selected on {' / '.join(sorted(selected)) or '-'}.",
    ]
    lines += [f"\n{note}" for note in notes]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module doc)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--recipes", default=None, help="comma-separated recipe names, or 'all' (default; smoke amaz)"
    )
    p.add_argument(
        "--datasets",
        default=None,
        help="comma-separated: digits, fashion-mnist (default: both, fashion-mnist where installed; smoke digits)",
    )
    p.add_argument("--xlsa17", default=None, help="an xlsa17 data set folder (res101.mat + att_splits.mat)")
    p.add_argument(
        "--dataset", default=None, help="the xlsa17 data set's name with --xlsa17 (AWA2, CUB, ...)"
    )
    p.add_argument(
        "--classifiers", default=None, help="comma-separated final classifiers (default: the recipe's)"
    )
    p.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default 3)")
    p.add_argument("--episodes", type=int, default=None, help="override the preset's trainer.episodes")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--set", action="append", default=[], help="recipe override, e.g. --set trainer.bf16=true")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: torch's choice, the core count)",
    )
    p.add_argument(
        "--quick", action="store_true", help="tiny networks, 1 seed, 3 episodes, a small evaluation"
    )
    add_smoke_flag(p, "--quick with amaz on digits; implies --no-doc, the JSON into a temporary folder")
    p.add_argument(
        "--doc", default=None, help="the page to write the tables into (default docs/benchmarks.md)"
    )
    p.add_argument("--no-doc", action="store_true", help="do not touch the docs page")
    p.add_argument(
        "--json-dir", default=None, help="where accuracy-<dataset>.json go (default benchmarks/results)"
    )
    args = p.parse_args(argv)
    if args.smoke and args.doc:
        p.error("--smoke is a smoke test, not a measurement: it writes nothing into docs/; drop --doc")
    if args.smoke:
        args.quick = args.no_doc = True
        args.recipes = args.recipes or "amaz"
        args.datasets = args.datasets or (None if args.xlsa17 else "digits")
    args.recipes = args.recipes or "all"
    args.doc = args.doc or str(DEFAULT_DOC)
    if args.seeds < 1:
        p.error(f"--seeds must be positive, got {args.seeds}")
    if args.episodes is not None and args.episodes < 1:
        p.error(f"--episodes must be positive, got {args.episodes}")
    if (args.xlsa17 is None) != (args.dataset is None):
        p.error("--xlsa17 and --dataset go together: --xlsa17 /path/to/xlsa17/AWA2 --dataset AWA2")
    if args.quick:
        args.seeds = 1
        args.episodes = args.episodes or 3
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, write JSON and the docs tables; return the results."""
    from modgen.plugins import get_registries

    args = parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    registries = get_registries(entry_points=False)
    device = resolve_device(args.device)
    recipes = sorted(registries.recipe.names()) if args.recipes == "all" else args.recipes.split(",")
    for r in recipes:
        registries.recipe.get(r)  # UnknownComponentError lists the names
    overrides = list(QUICK_OVERRIDES if args.quick else [])
    if args.classifiers:
        names = args.classifiers.split(",")
        for n in names:
            registries.final_classifier.get(n)
        overrides.append("evaluation.classifiers=[" + ", ".join(f'"{n}"' for n in names) + "]")
    overrides += args.set
    if args.xlsa17 is not None:
        datasets = [(args.dataset, Path(args.xlsa17))]
    elif args.datasets:
        datasets = [(d, None) for d in args.datasets.split(",") if d]
    else:
        datasets = [(d, None) for d in DEFAULT_DATASETS if d != "fashion-mnist" or _fashion_installed()]
    for name, _ in datasets:
        if name == "fashion-mnist" and not _fashion_installed():
            raise ConfigError(
                "--datasets fashion-mnist: its idx files are not installed (apt-get install dataset-fashion-mnist)"
            )
    seeds = list(range(args.seeds))
    machine = machine_info(device)
    command = "python benchmarks/accuracy.py " + " ".join(argv if argv is not None else sys.argv[1:])
    result: dict[str, Any] = {
        "benchmark": "accuracy",
        "date": today(),
        "commit": git_commit(),
        "device": str(device),
        "machine": machine,
        "command": command.strip(),
        "quick": args.quick,
        "datasets": [],
    }
    json_dir = Path(args.json_dir) if args.json_dir else Path(__file__).resolve().parent / "results"
    with tempfile.TemporaryDirectory(prefix="modgen-accuracy-") as tmp:
        if args.smoke and not args.json_dir:  # a smoke test writes nothing into the repository
            json_dir = Path(tmp)
        for name, root in datasets:
            print(f"... {name}: {', '.join(recipes)}; seeds {seeds}", flush=True)
            t0 = time.perf_counter()
            ds = run_dataset(
                name,
                recipes,
                seeds=seeds,
                episodes=args.episodes,
                device=str(device),
                overrides=overrides,
                registries=registries,
                data_root=root,
                workdir=Path(tmp),
                small=args.quick,
            )
            ds["wall_seconds"] = time.perf_counter() - t0
            ds["load_average_after"] = machine_info(device)["load_average"]
            result["datasets"].append(ds)
            n = machine["cpu_threads"]
            where = machine["cuda_device"] or f"{machine['cpu_model']}, {n} thread{'' if n == 1 else 's'}"
            header = (
                f"Measured {result['date']} on {where} (device `{device}`, torch {machine['torch']}, commit "
                f"`{result['commit']}`, load average {', '.join(map(str, machine['load_average']))} at the start), "
                f"{ds['wall_seconds'] / 60:.0f} min in all, with `{result['command']}`."
                + (" QUICK settings: a smoke test, not a measurement." if args.quick else "")
            )
            ds["markdown"] = markdown_table(ds, header=header)
            print(ds["markdown"], flush=True)
            write_json(json_dir / f"accuracy-{name}.json", {**result, "datasets": [ds]})
            if not args.no_doc:
                write_doc_block(Path(args.doc), f"accuracy:{name}", ds["markdown"])
                print(f"wrote the {name} table into {args.doc}")
    return result


if __name__ == "__main__":
    main()
