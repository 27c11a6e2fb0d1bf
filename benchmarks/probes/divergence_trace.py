"""Which loss blows up first? A failed run resumed from its last good checkpoint, every episode logged.

A run that diverges stops with ``TrainingDivergedError`` and keeps its last good checkpoint, but
its metrics were logged every ``run.log_every`` episodes, so the first loss to leave its range is
hidden between two records. This probe copies the run folder (the original is not touched),
resumes the copy from that checkpoint with the run's own recipe and seed streams, and prints the
losses of every episode until the divergence, or until ``--episodes``. Nothing else changes, so
the same episodes replay: the trace shows which network's loss moved first.

Usage:
    python benchmarks/probes/divergence_trace.py RUN --episodes 560
    python benchmarks/probes/divergence_trace.py --smoke   # a 4-episode tiny run, traced 2 more
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

#: The losses printed, in this order (a trainer that does not log one shows "-").
LOSSES = ("loss/d", "loss/gp", "loss/wasserstein", "loss/gc", "loss/ad_real", "loss/attr", "loss/cls")


def trace(run: Path, episodes: int | None, work: Path) -> tuple[list[dict[str, Any]], str | None]:
    """Resume a copy of ``run`` with a record every episode; return the records and the error
    that stopped it (``None`` when it reached ``episodes``)."""
    import torch
    from attrs import evolve

    from modgen.data import load_dataset
    from modgen.errors import TrainingDivergedError
    from modgen.pipeline._folder import resume_spec
    from modgen.plugins import get_registries
    from modgen.train.loop import train

    torch.set_num_threads(1)
    copy = work / run.name
    shutil.copytree(run, copy)
    registries = get_registries(entry_points=False)
    spec = resume_spec(registries, copy, episodes=episodes, threads=1)
    spec = evolve(spec, run=evolve(spec.run, log_every=1))
    data = load_dataset(registries, spec.data)
    records: list[dict[str, Any]] = []

    def record(episode: int, values: dict[str, Any]) -> None:
        records.append({"episode": episode, **{k: values[k] for k in LOSSES if k in values}})

    try:
        train(spec, registries, data=data, out=copy, device="cpu", resume=True, on_record=record)
    except TrainingDivergedError as err:
        return records, str(err).split(";")[0]
    return records, None


def first_jumps(records: list[dict[str, Any]], factor: float = 10.0) -> dict[str, int]:
    """For each loss, the first episode whose magnitude exceeds ``factor`` times the largest
    magnitude of the first half of the trace (its normal range)."""
    out: dict[str, int] = {}
    half = records[: max(1, len(records) // 2)]
    for key in LOSSES:
        normal = max((abs(r[key]) for r in half if key in r and math.isfinite(r[key])), default=None)
        if normal is None:
            continue
        for r in records:
            value = r.get(key)
            if value is not None and (not math.isfinite(value) or abs(value) > factor * max(normal, 1e-6)):
                out[key] = int(r["episode"])
                break
    return out


def _smoke_run(work: Path) -> Path:
    """A tiny amaz run of 4 episodes on digits, checkpointed at 2 (the smoke's 'failed' run)."""
    from modgen.pipeline import resolve_spec, run
    from modgen.plugins import get_registries
    from modgen.testing.presets import tiny

    registries = get_registries(entry_points=False)
    spec = resolve_spec(
        registries,
        "amaz",
        dataset="digits",
        overrides=["trainer.episodes=4", "run.checkpoint_every=2", "run.threads=1"],
    )
    folder = work / "smoke-run"
    run(tiny(spec, registries), registries, folder, evaluate=False)
    return folder


def main(argv: list[str] | None = None) -> tuple[list[dict[str, Any]], str | None]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", nargs="?", type=Path, help="the folder of the failed run")
    p.add_argument("--episodes", type=int, default=None, help="stop here (default: the run's own count)")
    p.add_argument("--smoke", action="store_true", help="a tiny 4-episode run, traced to 6 episodes")
    args = p.parse_args(argv)
    if not args.smoke and (args.run is None or not (args.run / "config.toml").is_file()):
        p.error(f"RUN {str(args.run)!r}: not a run folder (no config.toml); give a run's folder")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchlib import git_commit, machine_info

    with tempfile.TemporaryDirectory(prefix="divergence-trace-") as tmp:
        work = Path(tmp)
        run = _smoke_run(work / "src") if args.smoke else args.run
        episodes = 6 if args.smoke else args.episodes
        records, error = trace(run, episodes, work)
    print(f"commit {git_commit()}; {machine_info('cpu')['cpu_model']}; 1 thread; {run}\n")
    print("| episode | " + " | ".join(k.removeprefix("loss/") for k in LOSSES) + " |")
    print("|---:|" + "---:|" * len(LOSSES))
    for r in records:
        cells = [f"{r[k]:.3g}" if k in r else "-" for k in LOSSES]
        print(f"| {r['episode']} | " + " | ".join(cells) + " |")
    jumps = first_jumps(records)
    print(
        "\nFirst episode each loss left 10x its range of the first half: "
        + (
            ", ".join(f"{k.removeprefix('loss/')} {e}" for k, e in sorted(jumps.items(), key=lambda x: x[1]))
            or "none"
        )
    )
    print(f"Stopped by: {error}" if error else "Reached the last episode without diverging.")
    return records, error


if __name__ == "__main__":
    main()
