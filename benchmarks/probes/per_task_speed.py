"""Probe: per-task adaptation at AWA2 shapes, factored vs materialised, against the reference loop.

Times one meta-training episode (``trainer.step``) of the ``amaz`` recipe at the paper's widths on
AWA2-shaped data (A=85, D=2048, 40 seen classes; semi-synthetic features over the real
``att_splits.mat`` when the xlsa17 folder has it, as ``benchmarks/speed.py`` builds them; tasks
10-way 5-shot support, 3-shot query, 10 tasks) for four runs:

* ``batch``: ``trainer.adaptation=batch`` (one adaptation for the batch of tasks, the default);
* ``task``: ``trainer.adaptation=task``, the factored per-task path
  (:mod:`modgen.functional.lowrank`);
* ``task-vmap``: the former per-task path, every task its own copy of every parameter under
  ``torch.func.vmap`` (``tests/vmap_reference.py``);
* ``reference``: ``speed.py``'s :class:`ReferenceEpisode`, Algorithm 1 as a Python loop over tasks.

Each run is its own process (so its peak RSS is its own), and the runs take turns: round ``r``
runs every variant once with ``--warmup`` untimed episodes and ``--episodes`` timed ones, so a
change in the machine's load hits every variant alike. Reported: the median wall and CPU seconds
per episode over all rounds, the ratio to the reference, and the peak RSS (``VmHWM``, largest
over the rounds). One torch thread unless ``--threads`` says otherwise.

Usage:
    OMP_NUM_THREADS=1 python benchmarks/probes/per_task_speed.py --rounds 3
    python benchmarks/probes/per_task_speed.py --smoke   # tiny widths, 2 variants, one round: a smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[2]
for folder in (ROOT / "benchmarks", ROOT / "tests"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from benchlib import (  # noqa: E402
    DEFAULT_XLSA17,
    PeakMemory,
    add_smoke_flag,
    git_commit,
    machine_info,
    median,
    paper_shaped_data,
    time_calls,
)
from speed import ReferenceEpisode, build_spec  # noqa: E402

from modgen.plugins import get_registries  # noqa: E402
from modgen.train.base import RandomStreams  # noqa: E402
from modgen.train.loop import build_for_data  # noqa: E402

VARIANTS = ("batch", "task", "task-vmap", "reference")


def worker(args: argparse.Namespace) -> dict[str, Any]:
    """One variant in this process: build, warm up, time; returns the measurements."""
    torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    registries = get_registries(entry_points=False)
    data, source = paper_shaped_data(
        "AWA2",
        xlsa17=Path(args.xlsa17) if args.xlsa17 else None,
        feature_dim=args.feature_dim,
        per_class=args.per_class,
        workdir=Path(args.workdir),
        seed=args.seed,
    )
    variant = args.worker
    adaptation = "batch" if variant in ("batch", "reference") else "task"
    spec = build_spec(device=device, adaptation=adaptation, quick=args.quick, registries=registries)
    asm = build_for_data(spec, registries, data, device, seed=args.seed)
    streams = RandomStreams.from_seed(args.seed, device)
    if variant == "reference":
        ref = ReferenceEpisode(asm, data, spec, registries, device)

        def step() -> None:
            ref.step(streams)

    else:
        from vmap_reference import VmapTaskTrainer

        cls = VmapTaskTrainer if variant == "task-vmap" else registries.trainer.get(spec.trainer.name)
        trainer = cls(assembly=asm, data=data, spec=spec, registries=registries, device=device)

        def step() -> None:
            trainer.step(streams)

    with PeakMemory(device) as mem:
        wall, cpu = time_calls(step, repeats=args.episodes, warmup=args.warmup, device=device)
    return {
        "variant": variant,
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_bytes": mem.peak_bytes,
        "source": source,
        "parameters": sum(p.numel() for p in asm.parameters()),
        "threads": torch.get_num_threads(),
    }


def run_rounds(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    """Every variant once per round, each in a fresh process; the results gathered."""
    variants = [v for v in args.variants.split(",") if v]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    results: dict[str, dict[str, Any]] = {v: {"wall_s": [], "cpu_s": [], "peak_bytes": []} for v in variants}
    load = [os.getloadavg()]
    info: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="modgen-pertask-") as tmp:
        for r in range(args.rounds):
            for v in variants:
                cmd = [sys.executable, __file__, *argv, "--worker", v, "--workdir", tmp]
                t0 = time.perf_counter()
                out = subprocess.run(cmd, env=env, capture_output=True, text=True)
                if out.returncode != 0:
                    raise SystemExit(f"{v} failed (round {r + 1}):\n{out.stderr[-3000:]}")
                res = json.loads(out.stdout.strip().splitlines()[-1])
                results[v]["wall_s"] += res["wall_s"]
                results[v]["cpu_s"] += res["cpu_s"]
                results[v]["peak_bytes"].append(res["peak_bytes"])
                info = {k: res[k] for k in ("source", "parameters", "threads")}
                print(
                    f"round {r + 1} {v:10s} "
                    + " ".join(f"{1000 * t:.0f}" for t in res["wall_s"])
                    + f" ms  ({time.perf_counter() - t0:.0f} s with build and warm-up)",
                    flush=True,
                )
                load.append(os.getloadavg())
    ref = median(results["reference"]["wall_s"]) if "reference" in results else None
    ref_cpu = median(results["reference"]["cpu_s"]) if "reference" in results else None
    rows = []
    for v in variants:
        r = results[v]
        med = median(r["wall_s"])
        rows.append(
            {
                "variant": v,
                "median_ms": 1000 * med,
                "min_ms": 1000 * min(r["wall_s"]),
                "episodes": len(r["wall_s"]),
                "cpu_median_s": median(r["cpu_s"]),
                "vs_reference": (ref / med) if ref else None,
                "cpu_vs_reference": (ref_cpu / median(r["cpu_s"])) if ref_cpu else None,
                "peak_gib": max(b for b in r["peak_bytes"] if b is not None) / 2**30
                if any(r["peak_bytes"])
                else None,
                "wall_s": r["wall_s"],
            }
        )
    return {
        "command": "python benchmarks/probes/per_task_speed.py " + " ".join(argv),
        "commit": git_commit(ROOT),
        "machine": machine_info("cpu"),
        "load_average_during": [round(max(x[i] for x in load), 2) for i in range(3)],
        "load_average_samples": [[round(v, 2) for v in x] for x in load],
        **info,
        "rows": rows,
    }


def markdown(result: dict[str, Any]) -> str:
    """The result as a Markdown table."""
    m = result["machine"]
    lines = [
        f"`{result['command']}` at commit `{result['commit']}`; {m['cpu_model']}, {result['threads']} torch "
        f"thread(s) of {m['cpu_cores']} cores, torch {m['torch']}; load average (1, 5, 15 min) at most "
        f"{', '.join(map(str, result['load_average_during']))}; {result['source']}; "
        f"{result['parameters']:,} parameters.",
        "",
        "| run | ms / episode (median) | min | episodes | vs reference | CPU s / episode (median) "
        "| vs reference (CPU s) | peak RSS |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        vs = "-" if r["vs_reference"] is None else f"{r['vs_reference']:.2f}x"
        vs_cpu = "-" if r["cpu_vs_reference"] is None else f"{r['cpu_vs_reference']:.2f}x"
        peak = "-" if r["peak_gib"] is None else f"{r['peak_gib']:.2f} GiB"
        lines.append(
            f"| {r['variant']} | {r['median_ms']:.0f} | {r['min_ms']:.0f} | {r['episodes']} | {vs} | "
            f"{r['cpu_median_s']:.2f} | {vs_cpu} | {peak} |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=None, help="turns of every variant (default 3; smoke 1)")
    p.add_argument("--episodes", type=int, default=1, help="timed episodes per variant and round (default 1)")
    p.add_argument(
        "--warmup",
        type=int,
        default=None,
        help="untimed episodes first, in every process (default 1; smoke 0)",
    )
    p.add_argument(
        "--variants",
        default=None,
        help=f"comma-separated, of {', '.join(VARIANTS)} (default all; smoke task-vmap,reference)",
    )
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--xlsa17", default=None, help="folder of AWA2/att_splits.mat ('' for none; smoke none)")
    p.add_argument("--feature-dim", type=int, default=2048)
    p.add_argument("--per-class", type=int, default=8, help="semi-synthetic samples per class and split")
    p.add_argument("--quick", action="store_true", help="tiny widths and features")
    add_smoke_flag(
        p,
        "--quick widths and features, synthetic data, one round, no warm-up, the variants task-vmap and "
        "reference (the worker's two branches)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="also write the result here")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--workdir", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.quick = args.quick or args.smoke
    args.variants = args.variants or ("task-vmap,reference" if args.smoke else ",".join(VARIANTS))
    args.rounds = args.rounds if args.rounds is not None else (1 if args.smoke else 3)
    args.warmup = args.warmup if args.warmup is not None else (0 if args.smoke else 1)
    if args.xlsa17 is None:
        args.xlsa17 = "" if args.smoke else str(DEFAULT_XLSA17)
    if args.quick:
        args.feature_dim = min(args.feature_dim, 64)
        args.per_class = min(args.per_class, 6)
    unknown = set(args.variants.split(",")) - set(VARIANTS) - {""}
    if unknown:
        p.error(f"--variants: unknown {', '.join(sorted(unknown))}; expected some of {', '.join(VARIANTS)}")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)))
        return None
    result = run_rounds(args, argv)
    print(markdown(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result


if __name__ == "__main__":
    main()
