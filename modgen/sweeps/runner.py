"""Running one shard of a sweep: each model trained once, each point evaluated, restarts skip work.

Example:
    >>> from modgen.plugins import get_registries
    >>> from modgen.sweeps.grid import expand_grid, grid_from_dict
    >>> points = expand_grid(grid_from_dict({"recipes": ["zsml"]}), get_registries(entry_points=False))
    >>> report = run_sweep(points, get_registries(entry_points=False), "sweeps/demo")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attrs import evolve, frozen

from modgen.errors import ConfigError, ModgenError
from modgen.rundir import RunDir, atomic_write_text, write_json

if TYPE_CHECKING:
    from modgen.registry import Registries
    from modgen.sweeps.grid import SweepPoint

__all__ = ["SweepReport", "run_sweep", "is_finished", "write_plan"]


@frozen
class SweepReport:
    """What :func:`run_sweep` did: point ids run, skipped (already finished) and failed."""

    ran: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()


def is_finished(out: str | os.PathLike[str], point: SweepPoint | str) -> bool:
    """Whether ``point`` (or a point id) has its ``runs/<id>/results.json`` in sweep folder ``out``."""
    pid = point if isinstance(point, str) else point.id
    return (Path(out) / "runs" / pid / "results.json").is_file()


def write_plan(out: Path, grid_text: str | None, points: Sequence[SweepPoint], count: int) -> None:
    """``plan.json`` (every point with its shard) and a copy of the grid in the sweep folder."""
    from modgen.sweeps.grid import shard_of

    owner = shard_of(points, count)
    plan = {"shards": count, "points": [{**p.to_dict(), "shard": owner[p.train_id]} for p in points]}
    write_json(out / "plan.json", plan)
    if grid_text is not None:
        atomic_write_text(out / "grid.toml", grid_text)


def _evaluate_group(
    members: list[SweepPoint],
    registries: Registries,
    root: Path,
    data: Any,
    device: str | None,
    threads: int | None,
    say: Callable[[str], None],
) -> list[str]:
    """Train the group's model (and its selection model when needed); evaluate every point."""
    from modgen.distributed import DistContext
    from modgen.evaluate.protocols import select
    from modgen.pipeline import (
        checkpoint_stop,
        choose_checkpoint,
        evaluate_with_floor,
        needs_selection,
        selection_spec,
        train_or_load,
        write_evaluation,
    )
    from modgen.runtime import apply_threads, resolve_device
    from modgen.sweeps.grid import training_spec
    from modgen.train.loop import preflight

    spec = training_spec(members[0].spec)
    if device is not None:
        spec = evolve(spec, run=evolve(spec.run, device=device))
    if threads is not None:
        spec = evolve(spec, run=evolve(spec.run, threads=threads))
    dev = resolve_device(spec.run.device, key="run.device")
    apply_threads(
        spec.run.threads, dev, preflight(spec, registries, data, dev)
    )  # once, for the group's networks
    folder = root / "models" / members[0].train_id
    t0 = time.perf_counter()
    # a model finished by an earlier attempt is loaded, one a killed attempt left is resumed
    sel_model = stop_at = None
    if spec.evaluation.checkpoint == "val":  # the training length chosen on the val classes first
        sel_model, chosen = choose_checkpoint(
            spec,
            registries,
            RunDir(folder),
            data,
            device=dev,
            resume=True,
            progress=None,
            log=say,
            dist=DistContext(),
        )
        stop_at = checkpoint_stop(chosen)
    model = train_or_load(spec, registries, folder, data, device=dev, resume=True, stop_at=stop_at)
    if sel_model is None and any(needs_selection(p.spec, registries) for p in members):
        sel_model = train_or_load(
            selection_spec(spec),
            registries,
            folder / "selection",
            data.validation_view(),
            device=dev,
            resume=True,
        )
    trained = time.perf_counter() - t0
    done = []
    for p in members:
        selection = None
        if sel_model is not None and needs_selection(p.spec, registries):
            selection = select(sel_model.assembly, sel_model.data, p.spec.evaluation, registries, seed=p.seed)
        result = evaluate_with_floor(p.spec, registries, model.assembly, data, selection, say, progress=False)
        write_evaluation(RunDir(root / "runs" / p.id), result, "final", model.episodes)
        done.append(p.id)
        best = max(result.zsl.values()) if result.zsl else float("nan")
        say(
            f"done {p.id} ({p.recipe} {p.dataset} seed {p.seed} sigma {p.sigma:g} samples {p.samples}): "
            f"best ZSL top-1 {best:.1f} (model {p.train_id}, {trained:.1f} s)"
        )
    return done


def run_sweep(
    points: Sequence[SweepPoint],
    registries: Registries,
    out: str | os.PathLike[str],
    *,
    device: str | None = None,
    threads: int | None = None,
    log: Callable[[str], None] | None = None,
) -> SweepReport:
    """Train and evaluate ``points`` (one shard's share) into the sweep folder ``out``.

    Finished points are skipped. Each model is trained once for all its points (resumed from
    its checkpoint if a previous attempt was killed), then every point is evaluated with its
    own seed and evaluation settings. A point that fails (a diverged run, a missing data file)
    gets ``runs/<id>/error.json`` and the others go on. ``device`` and ``threads`` replace every
    run's ``run.device`` and ``run.threads`` when given.

    Raises:
        ConfigError: called inside a torchrun job (``WORLD_SIZE > 1``): a sweep runs one
            process per shard.
    """
    from modgen.config import spec_to_toml
    from modgen.data import load_dataset
    from modgen.distributed import read_env

    if read_env().world_size > 1:
        raise ConfigError(
            "modgen sweep run is one process per shard, but WORLD_SIZE > 1 (started by torchrun?); "
            "start shards with --shard i/n instead (e.g. a Slurm job array)"
        )
    root = Path(out)
    say = log or (lambda _line: None)
    groups: dict[str, list[SweepPoint]] = {}
    for p in sorted(points, key=lambda q: q.id):
        groups.setdefault(p.train_id, []).append(p)
    datasets: dict[str, Any] = {}
    ran: list[str] = []
    skipped: list[str] = []
    failed: list[str] = []
    for train_id in sorted(groups):
        pending = []
        for p in groups[train_id]:
            if is_finished(root, p):
                skipped.append(p.id)
                say(f"skip {p.id} ({p.recipe} {p.dataset} seed {p.seed}): finished")
            else:
                pending.append(p)
        if not pending:
            continue
        for p in pending:
            run_dir = RunDir(root / "runs" / p.id).create()
            write_json(run_dir.root / "point.json", p.to_dict())
            atomic_write_text(run_dir.config, spec_to_toml(p.spec))
            (run_dir.root / "error.json").unlink(missing_ok=True)
        try:
            key = repr(pending[0].spec.data)
            if key not in datasets:
                datasets[key] = load_dataset(registries, pending[0].spec.data)
            with RunDir(root / "models" / train_id).lock():
                ran += _evaluate_group(pending, registries, root, datasets[key], device, threads, say)
        except ModgenError as err:
            for p in pending:
                if p.id in ran:
                    continue
                write_json(
                    root / "runs" / p.id / "error.json", {"error": type(err).__name__, "message": str(err)}
                )
                failed.append(p.id)
                say(f"FAILED {p.id} ({p.recipe} {p.dataset} seed {p.seed}): {err}")
    return SweepReport(ran=tuple(ran), skipped=tuple(skipped), failed=tuple(failed))
