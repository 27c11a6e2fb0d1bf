"""The training loop shared by every trainer: devices, seeding, logging, checkpoints, resume.

Example:
    >>> from modgen.plugins import get_registries
    >>> from modgen.recipes import amaz, with_dataset_preset
    >>> spec = with_dataset_preset(amaz(), "digits")
    >>> outcome = train(spec, get_registries(), out="runs/demo", progress=False)  # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from attrs import define, evolve

from modgen.config import RecipeSpec, spec_from_toml, spec_to_toml
from modgen.errors import CheckpointError, ConfigError, TrainingDivergedError
from modgen.train.run import RunDir, atomic_write_text, load_checkpoint, save_checkpoint

if TYPE_CHECKING:
    from modgen.assembly import Assembly
    from modgen.data.zsldata import ZSLData
    from modgen.plugins import Registries
    from modgen.train.base import BaseTrainer

__all__ = ["TrainOutcome", "resolve_device", "train", "load_run", "build_for_data"]

ProgressFn = Callable[[int, int, dict[str, float]], None]


@define
class TrainOutcome:
    """What :func:`train` returns: the run folder, the trained networks and the data."""

    run: RunDir
    spec: RecipeSpec
    assembly: Assembly
    data: ZSLData
    episodes: int
    seconds: float
    device: torch.device
    last_metrics: dict[str, float]
    #: this process's rank in a torchrun job (0 for a 1-process run); only rank 0 writes.
    rank: int = 0


def resolve_device(name: str) -> torch.device:
    """``auto`` -> ``cuda`` when available, else ``cpu``; ``cuda`` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"trainer.device is {name!r} but no CUDA device is available; use auto or cpu")
    return dev


def build_for_data(spec: RecipeSpec, registries: Registries, data: ZSLData, device: torch.device) -> Assembly:
    """Build the recipe's assembly for ``data``'s shapes on ``device``."""
    from modgen.assembly import build_assembly

    noise = spec.trainer.noise_dim or None
    asm = build_assembly(
        spec,
        registries,
        attr_dim=data.attr_dim,
        feature_dim=data.feature_dim,
        num_classes=len(data.seen_classes),
        noise_dim=noise,
    )
    return asm.to(device)


def _load_data(spec: RecipeSpec, registries: Registries) -> ZSLData:
    from modgen.data import load_dataset

    return load_dataset(registries, spec.data)


def _fingerprint(data: ZSLData) -> dict[str, Any]:
    return {
        "dataset": data.name,
        "attr_dim": int(data.attr_dim),
        "feature_dim": int(data.feature_dim),
        "seen_classes": [int(c) for c in data.seen_classes],
    }


def _machine(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()} ({os.cpu_count()} cores, torch {torch.__version__})"


def train(
    spec: RecipeSpec,
    registries: Registries,
    *,
    data: ZSLData | None = None,
    out: str | os.PathLike[str] | None = None,
    resume: bool = False,
    progress: ProgressFn | None = None,
) -> TrainOutcome:
    """Train ``spec`` and write its run folder.

    Args:
        spec: the resolved recipe.
        registries: component registries.
        data: the data (default: load ``spec.data`` through the registered dataset loader).
        out: the run folder (default ``runs/<recipe>-<dataset>-<seed>``).
        resume: continue from ``out``'s last checkpoint (its config.toml must match ``spec``'s
            networks and data).
        progress: called as ``progress(episode, total, metrics)`` at every log point.

    Returns:
        A :class:`TrainOutcome`.

    Raises:
        TrainingDivergedError: a loss became NaN/inf; the message names it and the episode, and
            the last good checkpoint is kept.
        CheckpointError: ``resume`` with a missing, corrupt or mismatched checkpoint.

    Under torchrun (``WORLD_SIZE > 1``) every rank calls this; the episodes are split across
    ranks (:mod:`modgen.distributed`) and rank 0 alone writes the run folder.
    """
    from modgen.distributed import setup_distributed

    cfg = spec.trainer
    dist_ctx, device = setup_distributed(resolve_device(cfg.device))
    main = dist_ctx.is_main
    data = data if data is not None else _load_data(spec, registries)
    run = RunDir(out if out is not None else Path("runs") / f"{spec.name}-{data.name}-seed{cfg.seed}")
    if main:
        run.create()

    if resume:
        ckpt = load_checkpoint(run.checkpoint, map_location=device)
        if ckpt.get("data") != _fingerprint(data):
            raise CheckpointError(
                f"Checkpoint {str(run.checkpoint)!r} was trained on {ckpt.get('data')}, "
                f"not on the data given now ({_fingerprint(data)})"
            )
        saved = spec_from_toml(ckpt["spec"], source=str(run.checkpoint))
        if evolve(saved, trainer=evolve(saved.trainer, episodes=cfg.episodes, device=cfg.device)) != evolve(
            spec, trainer=evolve(spec.trainer, device=cfg.device)
        ):
            raise CheckpointError(
                f"Checkpoint {str(run.checkpoint)!r} was written by a different recipe configuration; "
                f"resume with the run's own config.toml (only trainer.episodes and trainer.device may change)"
            )
    if main:
        atomic_write_text(run.config, spec_to_toml(spec))

    gen = torch.Generator(device=device)
    gen.manual_seed(cfg.seed)
    start = 0
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        # Initialisation and dropout draw from the global RNG: seed it inside a fork so the
        # caller's RNG state is untouched and a run is reproducible from its seed.
        torch.manual_seed(cfg.seed)
        assembly = build_for_data(spec, registries, data, device)
        trainer_cls = registries.trainer.get(cfg.name)
        trainer: BaseTrainer = trainer_cls(
            assembly=assembly, data=data, spec=spec, registries=registries, device=device
        )
        if resume:
            try:
                assembly.load_state_dict(ckpt["model"])
                trainer.load_state_dict(ckpt["optimizers"])
            except (RuntimeError, KeyError, ValueError) as err:
                raise CheckpointError(
                    f"Checkpoint {str(run.checkpoint)!r} does not match the networks of this recipe: {err}"
                ) from err
            gen.set_state(ckpt["rng"]["train"].cpu() if device.type == "cpu" else ckpt["rng"]["train"].cpu())
            torch.set_rng_state(ckpt["rng"]["cpu"].cpu())
            if device.type == "cuda" and "cuda" in ckpt["rng"]:
                torch.cuda.set_rng_state(ckpt["rng"]["cuda"].cpu(), device)
            start = int(ckpt["episode"])
            if main:
                run.truncate_metrics(start)
        elif main:
            run.truncate_metrics(0)

        sync_every = 1 if device.type == "cpu" else cfg.log_every
        sums: dict[str, torch.Tensor] = {}
        count = 0
        last: dict[str, float] = {}
        records: list[dict[str, Any]] = []
        t0 = time.perf_counter()
        t_log = t0
        last_good = start if run.checkpoint.exists() else None

        def save(episode: int) -> None:
            # BatchNorm running statistics for synthesis (every rank, identically)
            trainer.calibrate()
            if not main:
                return
            rng = {"train": gen.get_state(), "cpu": torch.get_rng_state()}
            if device.type == "cuda":
                rng["cuda"] = torch.cuda.get_rng_state(device)
            save_checkpoint(
                run.checkpoint,
                {
                    "episode": episode,
                    "model": assembly.state_dict(),
                    "optimizers": trainer.state_dict(),
                    "rng": rng,
                    "spec": spec_to_toml(spec),
                    "data": _fingerprint(data),
                },
            )

        for episode in range(start + 1, cfg.episodes + 1):
            parts = trainer.step(gen)
            for k, v in parts.items():
                sums[k] = sums[k] + v if k in sums else v.clone()
            count += 1
            is_log = episode % cfg.log_every == 0 or episode == cfg.episodes
            if is_log or episode % sync_every == 0:
                bad = [k for k, v in sums.items() if not math.isfinite(float(v))]
                if bad:
                    kept = (
                        f"the last good checkpoint {str(run.checkpoint)!r} (episode {last_good}) is kept"
                        if last_good is not None
                        else "no checkpoint had been written yet"
                    )
                    raise TrainingDivergedError(
                        f"Loss {bad[0]!r} became {float(sums[bad[0]])} by episode {episode} of run "
                        f"{str(run.root)!r}; {kept}. Lower the learning rates (trainer.beta*, trainer.alpha*)."
                    )
            if is_log:
                now = time.perf_counter()
                last = {k: float(v) / count for k, v in sums.items()}
                rec = {"episode": episode, **last, "seconds_per_episode": (now - t_log) / count}
                records.append(rec)
                if main:
                    run.append_metrics(records)
                records.clear()
                sums, count, t_log = {}, 0, now
                if progress is not None and main:
                    progress(episode, cfg.episodes, rec)
            if (cfg.checkpoint_every and episode % cfg.checkpoint_every == 0) or episode == cfg.episodes:
                if count:  # make sure what we save is finite
                    bad = [k for k, v in sums.items() if not math.isfinite(float(v))]
                    if bad:
                        raise TrainingDivergedError(f"Loss {bad[0]!r} became non-finite by episode {episode}")
                save(episode)
                last_good = episode
        seconds = time.perf_counter() - t0

    if main:
        run.write_json(
            run.summary,
            {
                "recipe": spec.name,
                "dataset": data.name,
                "episodes": cfg.episodes,
                "resumed_from": start,
                "train_seconds": seconds,
                "episodes_per_second": (cfg.episodes - start) / seconds if seconds > 0 else None,
                "device": str(device),
                "world_size": dist_ctx.world_size,
                "machine": _machine(device),
                "preprocessing": data.preprocessing,
                "last_metrics": last,
            },
        )
    assembly.eval()
    return TrainOutcome(run, spec, assembly, data, cfg.episodes, seconds, device, last, dist_ctx.rank)


def load_run(
    path: str | os.PathLike[str], registries: Registries, *, device: str = "auto", data: ZSLData | None = None
) -> TrainOutcome:
    """Load a finished (or interrupted) run: its spec, data and the networks at the last checkpoint.

    Raises:
        CheckpointError: the folder has no config.toml or checkpoint, or they do not match.
    """
    run = RunDir(path)
    if not run.config.is_file():
        raise CheckpointError(f"{str(run.root)!r} is not a modgen run folder: no config.toml")
    spec = spec_from_toml(run.config.read_text(encoding="utf-8"), source=str(run.config))
    dev = resolve_device(device)
    ckpt = load_checkpoint(run.checkpoint, map_location=dev)
    data = data if data is not None else _load_data(spec, registries)
    if ckpt.get("data") != _fingerprint(data):
        raise CheckpointError(
            f"Checkpoint {str(run.checkpoint)!r} was trained on {ckpt.get('data')}, not on {_fingerprint(data)}"
        )
    assembly = build_for_data(spec, registries, data, dev)
    try:
        assembly.load_state_dict(ckpt["model"])
    except (RuntimeError, KeyError) as err:
        raise CheckpointError(
            f"Checkpoint {str(run.checkpoint)!r} does not match its config.toml: {err}"
        ) from err
    assembly.eval()
    return TrainOutcome(run, spec, assembly, data, int(ckpt["episode"]), 0.0, dev, {})
