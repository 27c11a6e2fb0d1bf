"""The thread policy, measured: each command at every thread count and at modgen's own choice.

For ``modgen train`` (digits, ``--episodes``, no evaluation) and ``modgen evaluate`` (of that run),
each in a fresh process, the wall time with ``--threads 1, 2, ..., cores`` (``train``; for
``evaluate`` through ``OMP_NUM_THREADS``, as it applies the policy to the run's setting) and with
the policy (``--threads 0``); medians of ``--repeats``. The policy is within 1.5x of the best
setting when the ratio column stays below 1.5.

Usage:
    python benchmarks/threads.py --episodes 200 --repeats 3
    python benchmarks/threads.py --smoke   # the policy only, tiny networks: a smoke test
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))


def _time(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{proc.stderr[-2000:]}")
    return time.perf_counter() - t0


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

    from modgen.runtime import available_cores

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--episodes", type=int, default=None, help="training episodes (default 200; smoke 2)")
    p.add_argument(
        "--repeats", type=int, default=None, help="fresh processes per setting (default 3; smoke 1)"
    )
    p.add_argument(
        "--thread-counts",
        default=None,
        help="comma-separated thread counts to time, 0 for the policy (default 1,2,...,cores,0; smoke 0)",
    )
    add_doc_flag(p)
    add_smoke_flag(p, "the policy only, the tiny preset, 2 episodes, one repeat, a small evaluation")
    args = p.parse_args(argv)
    if args.smoke and args.doc:
        p.error("--smoke is a smoke test, not a measurement: it writes nothing into docs/; drop --doc")
    args.episodes = args.episodes or (2 if args.smoke else 200)
    args.repeats = args.repeats or (1 if args.smoke else 3)
    commit = commit_for(args.doc)
    cores = available_cores()
    if args.thread_counts:
        settings = [int(t) for t in args.thread_counts.split(",") if t]
    else:
        settings = [0] if args.smoke else [*range(1, cores + 1), 0]
    if 0 not in settings or min(settings) < 0:
        p.error(f"--thread-counts: give the policy (0) and thread counts >= 1, got {args.thread_counts!r}")
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    modgen = [sys.executable, "-m", "modgen", "-q"]
    # the smoke test's run: tiny networks, and an evaluation that only checks it runs
    small = ["--preset", "tiny"] if args.smoke else []
    for override in SMOKE_EVALUATION if args.smoke else ():
        small += ["--set", override]
    rows: dict[str, dict[int, float]] = {"train": {}, "evaluate": {}}
    with tempfile.TemporaryDirectory(prefix="modgen-threads-") as tmp:
        base = [
            *modgen,
            "train",
            "--episodes",
            str(args.episodes),
            "--set",
            "evaluation.selection=none",
            *small,
        ]
        run = Path(tmp) / "run"
        if args.smoke:  # no untimed run first (it warms the file cache): the first timed one is evaluated
            run = Path(tmp) / f"t{settings[0]}-0"
        else:
            subprocess.run([*base, "--out", str(run), "--no-eval"], check=True, capture_output=True, env=env)
        for t in settings:
            times = []
            for r in range(args.repeats):
                out = Path(tmp) / f"t{t}-{r}"
                times.append(_time([*base, "--no-eval", "--threads", str(t), "--out", str(out)], env))
            rows["train"][t] = statistics.median(times)
            times = []
            for _ in range(args.repeats):
                e = dict(env, **({"OMP_NUM_THREADS": str(t)} if t else {}))
                times.append(_time([*modgen, "evaluate", str(run), "--set", "evaluation.seeds=1"], e))
            rows["evaluate"][t] = statistics.median(times)
    machine = machine_info("cpu")
    label = {t: (f"{t} thread{'s' if t > 1 else ''}" if t else "policy (0)") for t in settings}
    lines = [
        f"Wall seconds, medians of {args.repeats} (fresh processes); `modgen train --episodes {args.episodes}` on digits "
        f"without evaluation and `modgen evaluate` of that run (one evaluation seed); {cores} cores available; commit "
        f"`{commit}`; {today()}, {machine['cpu_model']}, load average {', '.join(map(str, machine['load_average']))}."
        + (" SMOKE settings (tiny preset): a smoke test, not a measurement." if args.smoke else ""),
        "",
        "| command | " + " | ".join(label[t] for t in settings) + " | policy / best |",
        "|---|" + "---:|" * (len(settings) + 1),
    ]
    for cmd, times in rows.items():
        best = min((v for t, v in times.items() if t), default=None)
        ratio = "-" if best is None else f"{times[0] / best:.2f}"
        lines.append(f"| {cmd} | " + " | ".join(f"{times[t]:.1f}" for t in settings) + f" | {ratio} |")
    body = "\n".join(lines) + "\n"
    return publish(
        "threads",
        body,
        commit=commit,
        machine=machine,
        doc=args.doc,
        json_name="threads.json",
        key="speed:threads",
        rows=rows,
    )


if __name__ == "__main__":
    main()
