"""How long the command line takes to answer before it does any work.

Wall time of ``modgen --version``, ``modgen --help``, ``modgen train --help`` and shell
completion (the app is built as for a TAB), each in a fresh process started from the installed
console script's interpreter (no shell shims), beside a bare ``python -c pass``; medians of
``--repeats``. Also whether torch was imported (it must not be, for these).

Usage:
    python benchmarks/startup.py --repeats 7
    python benchmarks/startup.py --smoke   # one process per command, no warm-up: a smoke test
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))

#: What is timed: label -> (arguments, extra environment).
CASES: dict[str, tuple[list[str], dict[str, str]]] = {
    "python -c pass": (["-c", "pass"], {}),
    "modgen --version": (["-m", "modgen", "--version"], {}),
    "modgen --help": (["-m", "modgen", "--help"], {}),
    "modgen train --help": (["-m", "modgen", "train", "--help"], {}),
    "completion (TAB after 'modgen tr')": (
        ["-m", "modgen"],
        {"_MODGEN_COMPLETE": "complete_bash", "COMP_WORDS": "modgen tr", "COMP_CWORD": "1"},
    ),
}


def _run(args: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, *args], capture_output=True, env={**os.environ, **env})
    return time.perf_counter() - t0


def _imports_torch(args: list[str], env: dict[str, str]) -> bool:
    if args[:1] != ["-m"]:
        return False
    code = (
        "import sys, runpy\n"
        f"sys.argv = ['modgen', *{args[2:]!r}]\n"
        "try:\n    runpy.run_module('modgen', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **env}
    )
    return "TORCH" in out.stdout.replace("NO-TORCH", "")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from benchlib import add_doc_flag, add_smoke_flag, commit_for, machine_info, publish, today

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--repeats", type=int, default=None, help="fresh processes per command (default 7; smoke 1)"
    )
    add_doc_flag(p)
    add_smoke_flag(p, "one timed process per command, no warm-up process")
    args = p.parse_args(argv)
    if args.smoke and args.doc:
        p.error("--smoke is a smoke test, not a measurement: it writes nothing into docs/; drop --doc")
    args.repeats = args.repeats or (1 if args.smoke else 7)
    commit = commit_for(args.doc)
    rows = {}
    for label, (case, env) in CASES.items():
        if not args.smoke:
            _run(case, env)  # warm the file cache
        times = [_run(case, env) for _ in range(args.repeats)]
        rows[label] = {
            "median": statistics.median(times),
            "min": min(times),
            "torch": _imports_torch(case, env),
        }
    machine = machine_info("cpu")
    lines = [
        f"Wall seconds, medians (min) of {args.repeats} fresh processes of `{shutil.which('python') or sys.executable}`"
        f" -m modgen; commit `{commit}`; {today()}, {machine['cpu_model']}, load average "
        f"{', '.join(map(str, machine['load_average']))}."
        + (
            " SMOKE settings (one process each, no warm-up): a smoke test, not a measurement."
            if args.smoke
            else ""
        ),
        "",
        "| command | median (s) | min (s) | imports torch |",
        "|---|---:|---:|---|",
    ]
    for label, r in rows.items():
        lines.append(f"| {label} | {r['median']:.2f} | {r['min']:.2f} | {'yes' if r['torch'] else 'no'} |")
    body = "\n".join(lines) + "\n"
    return publish(
        "startup",
        body,
        commit=commit,
        machine=machine,
        doc=args.doc,
        json_name="startup.json",
        key="speed:startup",
        rows=rows,
    )


if __name__ == "__main__":
    main()
