"""The thread policy, measured: each command at every thread count and at modgen's own choice.

For ``modgen train`` (digits, ``--episodes``, no evaluation) and ``modgen evaluate`` (of that run),
each in a fresh process, the wall time with ``--threads 1, 2, ..., cores`` (``train``; for
``evaluate`` through ``OMP_NUM_THREADS``, as it applies the policy to the run's setting) and with
the policy (``--threads 0``); medians of ``--repeats``. The policy is within 1.5x of the best
setting when the ratio column stays below 1.5.

Usage:
    python benchmarks/threads.py --episodes 200 --repeats 3
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
    from benchlib import add_doc_flag, commit_for, machine_info, publish, today

    from modgen.runtime import available_cores

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--episodes", type=int, default=200)
    p.add_argument("--repeats", type=int, default=3)
    add_doc_flag(p)
    args = p.parse_args(argv)
    commit = commit_for(args.doc)
    cores = available_cores()
    settings = [*range(1, cores + 1), 0]
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    modgen = [sys.executable, "-m", "modgen", "-q"]
    rows: dict[str, dict[int, float]] = {"train": {}, "evaluate": {}}
    with tempfile.TemporaryDirectory(prefix="modgen-threads-") as tmp:
        base = [*modgen, "train", "--episodes", str(args.episodes), "--set", "evaluation.selection=none"]
        run = Path(tmp) / "run"
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
        f"`{commit}`; {today()}, {machine['cpu_model']}, load average {', '.join(map(str, machine['load_average']))}.",
        "",
        "| command | " + " | ".join(label[t] for t in settings) + " | policy / best |",
        "|---|" + "---:|" * (len(settings) + 1),
    ]
    for cmd, times in rows.items():
        best = min(v for t, v in times.items() if t)
        lines.append(
            f"| {cmd} | " + " | ".join(f"{times[t]:.1f}" for t in settings) + f" | {times[0] / best:.2f} |"
        )
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
