"""From a committed science result: each arm against the closed-form floor, and the runs a 3-point effect needs.

Reads a ``benchmarks/results/science-*.json`` of a (split x seed) design (``science.py --splits K``)
and prints, for its primary measure (ZSL top-1 of the primary classifier):

* **each arm against the floor** (ESZSL and ridge as selected on each split's validation classes),
  paired on the split: the arm's per-seed values minus that split's floor, with the same
  hierarchical bootstrap interval, MDE and verdict as ``science.py``;
* **how many runs a difference of ``--effect`` points needs**: for every paired comparison with the
  baseline, the variance between splits (``s_b``, of the per-split mean differences) and within a
  split (``s_w``, between seeds), and the smallest number of splits ``S`` at ``--seeds-per-split``
  seeds each whose MDE at 80% power (noncentral t, ``S - 1`` degrees of freedom,
  ``se = sqrt(s_b^2 / S + s_w^2 / (S n))``) is at most ``--effect`` — with the machine time it would
  take at the file's own seconds per run.

Usage:
    python benchmarks/probes/power_plan.py benchmarks/results/science-digits-imagenet-three-questions.json
    python benchmarks/probes/power_plan.py --smoke   # the same file, printed: a smoke test
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
from pathlib import Path
from typing import Any

DEFAULT = Path(__file__).resolve().parents[1] / "results" / "science-digits-imagenet-three-questions.json"


def _count(value: Any) -> int:
    """A count recorded as a number or as the list of what was counted."""
    return len(value) if isinstance(value, list) else int(value)


def _split_of(run: dict[str, Any]) -> int:
    """The class split of a run: ``digits-split2`` -> 2; the fixed split (no suffix) -> 0."""
    found = re.search(r"-split(\d+)$", str(run.get("dataset", "")))
    return int(found.group(1)) if found else 0


def _values(runs: list[dict[str, Any]], clf: str) -> dict[tuple[int, int], float]:
    return {(_split_of(r), int(r["seed"])): float(r["zsl"][clf]) for r in runs}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from modgen.report.stats import hierarchical_difference, minimum_detectable_effect

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("file", nargs="?", default=str(DEFAULT), help="a science results JSON")
    p.add_argument("--effect", type=float, default=3.0, help="the effect to detect, in points")
    p.add_argument("--seeds-per-split", type=int, default=4)
    p.add_argument("--smoke", action="store_true", help="the committed three-questions file: a smoke test")
    args = p.parse_args(argv)
    d = json.loads(Path(args.file).read_text(encoding="utf-8"))
    metric, clf = (d.get("primary") or "zsl:softmax").split(":")
    if metric != "zsl":
        raise SystemExit(
            f"{args.file}: primary measure {metric!r}; this plan reads ZSL top-1 (zsl:CLASSIFIER)"
        )
    margin = float(d.get("margin") or 3.0)
    arms = d["arms"]
    print(
        f"{args.file}: commit {d['commit'][:12]}, {_count(d.get('splits', 1))} class splits x {_count(d['seeds'])} seeds, "
        f"primary zsl ({clf}); margin {margin:g}\n"
    )
    out: dict[str, Any] = {"floor": {}, "plan": {}}
    floors = {int(k): v for k, v in (d.get("floors") or {"0": d.get("floor")}).items()}
    print("| arm | floor | paired difference, arm - floor (95% CI) | MDE (80%) | verdict |")
    print("|---|---|---|---:|---|")
    for name, arm in arms.items():
        runs = arm["runs"]
        for method in ("eszsl", "ridge"):
            a = [float(r["zsl"][clf]) for r in runs]
            b = [float(floors[_split_of(r)][method]["zsl"]) for r in runs]
            diff = hierarchical_difference(a, b, [_split_of(r) for r in runs], seed=0)
            v = diff.verdict(margin)
            out["floor"][f"{name}-{method}"] = {
                "mean": diff.mean,
                "low": diff.low,
                "high": diff.high,
                "verdict": v,
            }
            print(
                f"| {name} | {method} | {diff.mean:+.1f} [{diff.low:+.1f}, {diff.high:+.1f}] | {diff.mde():.1f} | {v} |"
            )
    base = d["baseline"]
    b_vals = _values(arms[base]["runs"], clf)
    per_run = statistics.mean(float(x) for a in arms.values() for x in (a.get("seconds") or []))
    n = args.seeds_per_split
    print(
        f"\nruns for an effect of {args.effect:g} points at 80% power ({n} seeds per split, "
        f"{per_run:.0f} s a run as recorded):\n"
    )
    print(
        "| comparison | s_b (between splits) | s_w (within a split) | splits needed | runs (both arms) | hours on one core |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name, arm in arms.items():
        if name == base:
            continue
        vals = _values(arm["runs"], clf)
        keys = sorted(set(vals) & set(b_vals))
        by_split: dict[int, list[float]] = {}
        for k in keys:
            by_split.setdefault(k[0], []).append(vals[k] - b_vals[k])
        means = [statistics.mean(v) for v in by_split.values()]
        s_b = statistics.stdev(means) if len(means) > 1 else 0.0
        s_w = math.sqrt(statistics.mean(statistics.variance(v) for v in by_split.values() if len(v) > 1))
        need = None
        for S in range(2, 2001):
            se = math.sqrt(s_b**2 / S + s_w**2 / (S * n))
            if minimum_detectable_effect(se, S - 1) <= args.effect:
                need = S
                break
        runs = 2 * need * n if need else None
        hours = runs * per_run / 3600 if runs and per_run == per_run else float("nan")
        out["plan"][name] = {"s_b": s_b, "s_w": s_w, "splits": need, "runs": runs, "hours": hours}
        print(
            f"| {name} - {base} | {s_b:.1f} | {s_w:.1f} | {need if need else '> 2000'} | "
            f"{runs if runs else '-'} | {hours:.1f} |"
        )
    return out


if __name__ == "__main__":
    main()
