"""The training loop shared by every trainer: seeding, logging, checkpoints, resume, the guard.

:func:`train` composes small parts: :class:`MetricsLogger` (sums the loss parts and appends a
record every ``run.log_every`` episodes), :class:`Checkpointer` (calibrates BatchNorm and saves
the networks, optimisers and random state), :func:`restore` (resume from a checkpoint after
checking it matches), and :class:`DivergenceGuard` (losses, parameters and optimiser state must
stay finite). The caller owns the run folder's lifecycle (:mod:`modgen.pipeline`).

Example:
    >>> from modgen.plugins import get_registries
    >>> from modgen.pipeline import resolve_spec
    >>> spec = resolve_spec(get_registries(entry_points=False), "amaz", dataset="digits")
    >>> outcome = train(spec, get_registries(), out="runs/demo")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from attrs import define, evolve
from torch import Tensor

from modgen.config import RecipeSpec, spec_from_toml, spec_to_toml
from modgen.distributed import DistContext
from modgen.errors import CheckpointError, ConfigError, TrainingDivergedError
from modgen.rundir import RunDir, atomic_write_text
from modgen.runtime import apply_threads, resolve_device
from modgen.train.base import RandomStreams, stream_seeds
from modgen.train.checkpoint import load_checkpoint, save_checkpoint

if TYPE_CHECKING:
    from modgen.assembly import Assembly
    from modgen.data.zsldata import ZSLData
    from modgen.registry import Registries
    from modgen.train.base import BaseTrainer

__all__ = [
    "TrainOutcome",
    "MetricsLogger",
    "Checkpointer",
    "DivergenceGuard",
    "train",
    "restore",
    "load_run",
    "build_for_data",
    "preflight",
    "load_weights",
    "data_fingerprint",
]

ProgressFn = Callable[[int, int, dict[str, Any]], None]


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
    #: the episode training started from (0, or the checkpoint's when resumed).
    start: int = 0


def build_for_data(
    spec: RecipeSpec, registries: Registries, data: ZSLData, device: torch.device, *, seed: int | None = None
) -> Assembly:
    """Build the recipe's assembly for ``data``'s shapes on ``device`` and check the data fits it.

    ``seed`` seeds each network's initialisation on its own stream (see
    :func:`~modgen.assembly.build_assembly`); ``None`` draws from the global RNG.
    """
    from modgen.assembly import build_assembly

    asm = build_assembly(
        spec,
        registries,
        attr_dim=data.attr_dim,
        feature_dim=data.feature_dim,
        num_classes=len(data.seen_classes),
        seed=seed,
    )
    asm.check_inputs(
        features=torch.as_tensor(data.features[:1]), attributes=torch.as_tensor(data.semantics[:1])
    )
    asm = asm.to(device)
    origins = {
        kind: registries.kind(kind).entry(comp.name).origin
        for kind, comp in spec.components().items()
        if kind
        in ("generator", "modulator", "critic", "aux_classifier", "attribute_decoder", "quality_weighter")
    }
    with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
        asm.smoke_check(origins)  # dropout in the check must not shift the run's random stream
    return asm


def preflight(
    spec: RecipeSpec,
    registries: Registries,
    data: ZSLData,
    device: torch.device,
    dist: DistContext | None = None,
) -> None:
    """Build the networks and the trainer for ``data`` once and forget them: every component's
    parameters, its forward check and the task sampler's fit to the data are checked before a
    run folder is made or changed (nothing is trained, written or drawn from the caller's RNG).

    Raises:
        ModgenError: what building the run would raise (ConfigError, DataError, PluginError, ...).
    """
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        assembly = build_for_data(spec, registries, data, device, seed=stream_seeds(spec.run.seed)["init"])
        trainer_cls = registries.trainer.get(spec.trainer.name)
        trainer_cls(assembly=assembly, data=data, spec=spec, registries=registries, device=device, dist=dist)


def data_fingerprint(data: ZSLData) -> dict[str, Any]:
    """What a checkpoint records of its data, to refuse loading it into other data."""
    return {
        "dataset": data.name,
        "attr_dim": int(data.attr_dim),
        "feature_dim": int(data.feature_dim),
        "seen_classes": [int(c) for c in data.seen_classes],
    }


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# ----------------------------------------------------------------------------------------------
# the parts


class MetricsLogger:
    """Sums each episode's loss parts on the device; every ``log_every`` episodes writes a record.

    Args:
        run: the run folder (``None``: nothing is written, e.g. on ranks other than 0).
        total: the last episode (always logged).
        log_every: episodes between records.
        progress: called as ``progress(episode, total, record)`` for every record.
    """

    def __init__(self, run: RunDir | None, total: int, log_every: int, progress: ProgressFn | None) -> None:
        self.run, self.total, self.log_every, self.progress = run, total, log_every, progress
        self.sums: dict[str, Tensor] = {}
        self.count = 0
        self.last: dict[str, float] = {}
        self._t = time.perf_counter()

    def add(self, parts: dict[str, Tensor]) -> None:
        for k, v in parts.items():
            self.sums[k] = self.sums[k] + v if k in self.sums else v.clone()
        self.count += 1

    def due(self, episode: int) -> bool:
        return episode % self.log_every == 0 or episode == self.total

    def flush(self, episode: int) -> dict[str, Any]:
        """Write the record of the episodes since the last one and start a new sum."""
        now = time.perf_counter()
        self.last = {k: float(v) / self.count for k, v in self.sums.items()}
        record = {
            "episode": episode,
            **self.last,
            "seconds_per_episode": (now - self._t) / max(self.count, 1),
            "time": _now(),
        }
        if self.run is not None:
            self.run.append_metrics([record])
            if self.progress is not None:
                self.progress(episode, self.total, record)
        self.sums, self.count, self._t = {}, 0, now
        return record


class DivergenceGuard:
    """Stops a run whose losses, parameters or optimiser state stop being finite.

    The message names the first non-finite loss or tensor and the episode, says which
    checkpoint is kept, and what to try.
    """

    def __init__(self, run: RunDir, spec: RecipeSpec, last_good: int | None) -> None:
        self.run, self.spec, self.last_good = run, spec, last_good

    def _raise(self, what: str, episode: int) -> None:
        kept = (
            f"the last good checkpoint {str(self.run.checkpoint)!r} (episode {self.last_good}) is kept"
            if self.last_good is not None
            else "no checkpoint had been written yet"
        )
        raise TrainingDivergedError(
            f"{what} became non-finite by episode {episode} of run {str(self.run.root)!r}; {kept}. "
            "Likely causes: learning rates too high (trainer.beta*, trainer.alpha*), noise settings "
            "(trainer.sigma_train), or a component producing NaN. A resumed run keeps its recipe, "
            "so start a new run with the changed settings."
        )

    def check_losses(self, sums: dict[str, Tensor], episode: int) -> None:
        for key, value in sums.items():
            if not math.isfinite(float(value)):
                self._raise(f"loss {key!r} (= {float(value)})", episode)

    def check_state(self, named: Iterable[tuple[str, Tensor]], episode: int) -> None:
        for name, tensor in named:
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                self._raise(f"tensor {name!r}", episode)


def _named_state(assembly: Assembly, trainer: BaseTrainer) -> Iterable[tuple[str, Tensor]]:
    yield from assembly.state_dict().items()
    for group, opt in trainer.optimizers.items():
        for i, state in enumerate(opt.state.values()):
            for key, value in state.items():
                if isinstance(value, Tensor):
                    yield f"optimizer {group} state {i} {key}", value


class Checkpointer:
    """Calibrates the generator's BatchNorm and saves everything a bit-exact resume needs."""

    def __init__(
        self,
        run: RunDir,
        spec: RecipeSpec,
        data: ZSLData,
        assembly: Assembly,
        trainer: BaseTrainer,
        streams: RandomStreams,
        device: torch.device,
        *,
        main: bool,
    ) -> None:
        self.run, self.spec, self.data = run, spec, data
        self.assembly, self.trainer, self.streams = assembly, trainer, streams
        self.device, self.main = device, main

    def save(self, episode: int) -> None:
        self.trainer.calibrate()  # BatchNorm running statistics for synthesis (every rank)
        if not self.main:
            return
        rng: dict[str, Tensor] = {k: g.get_state() for k, g in self.streams.named().items()}
        rng["cpu"] = torch.get_rng_state()
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        save_checkpoint(
            self.run.checkpoint,
            {
                "episode": episode,
                "model": self.assembly.state_dict(),
                "optimizers": self.trainer.state_dict(),
                "rng": rng,
                "spec": spec_to_toml(self.spec),
                "data": data_fingerprint(self.data),
            },
        )


def _recipe_difference(saved: RecipeSpec, spec: RecipeSpec) -> str | None:
    """The first setting in which ``spec`` does not continue ``saved`` (only the episodes and the
    run section may differ), as ``key: checkpoint value, now value``; ``None`` when it does."""
    from modgen.config import spec_to_dict

    def core(s: RecipeSpec) -> dict[str, Any]:
        params = {k: v for k, v in s.trainer.params.items() if k != "episodes"}
        return _flat(spec_to_dict(evolve(s, trainer=evolve(s.trainer, params=params), run=spec.run)))

    old, new = core(saved), core(spec)
    for key in sorted(set(old) | set(new)):
        if old.get(key, "(unset)") != new.get(key, "(unset)"):
            return f"{key}: {old.get(key, '(unset)')!r} in the checkpoint, {new.get(key, '(unset)')!r} now"
    return None


def _flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def restore(
    run: RunDir,
    spec: RecipeSpec,
    data: ZSLData,
    assembly: Assembly,
    trainer: BaseTrainer,
    streams: RandomStreams,
    device: torch.device,
) -> int:
    """Load the run's checkpoint into the networks, optimisers and random streams.

    Returns:
        The episode the checkpoint was written at.

    Raises:
        CheckpointError: no checkpoint, a damaged one, one of other data or another recipe
            configuration, or more episodes done than ``spec`` asks for.
    """
    ckpt = load_checkpoint(run.checkpoint, map_location=device)
    if ckpt["data"] != data_fingerprint(data):
        raise CheckpointError(
            f"Checkpoint {str(run.checkpoint)!r} was trained on {ckpt['data']}, "
            f"not on the data given now ({data_fingerprint(data)})"
        )
    try:
        saved = spec_from_toml(ckpt["spec"], source=str(run.checkpoint))
    except ConfigError as err:
        raise CheckpointError(
            f"Checkpoint {str(run.checkpoint)!r}: entry 'spec' is not a valid recipe ({err}); it is damaged, "
            "delete it"
        ) from err
    difference = _recipe_difference(saved, spec)
    if difference is not None:
        raise CheckpointError(
            f"Checkpoint {str(run.checkpoint)!r} was written by a different recipe configuration ({difference}); "
            "resume with the run's own config.toml (only trainer.episodes and the run section may change)"
        )
    episodes = getattr(trainer.settings, "episodes", None)
    if isinstance(episodes, int) and ckpt["episode"] > episodes:
        raise CheckpointError(
            f"Checkpoint {str(run.checkpoint)!r} is at episode {ckpt['episode']}, past the "
            f"{episodes} episodes asked for; ask for at least {ckpt['episode']} (--episodes)"
        )
    load_weights(assembly, ckpt["model"], run.checkpoint)
    _load_optimizers(trainer, ckpt["optimizers"], run.checkpoint)
    _load_random_state(streams, ckpt["rng"], device, run.checkpoint)
    return int(ckpt["episode"])


def load_weights(assembly: Assembly, weights: Any, path: Path) -> None:
    """Load a checkpoint's ``model`` entry, naming the first missing, unexpected or misshapen weight.

    Raises:
        CheckpointError: the weights do not fit the networks of the recipe.
    """
    own = assembly.state_dict()
    missing = [k for k in own if k not in weights]
    unexpected = [k for k in weights if k not in own]
    wrong = [
        f"{k} is {tuple(v.shape)}, the network has {tuple(own[k].shape)}"
        for k, v in weights.items()
        if k in own and isinstance(v, Tensor) and tuple(v.shape) != tuple(own[k].shape)
    ]
    problem = (
        f"weight {missing[0]!r} is missing ({len(missing)} in all)"
        if missing
        else f"weight {unexpected[0]!r} is not in the networks ({len(unexpected)} in all)"
        if unexpected
        else f"weight {wrong[0]}"
        if wrong
        else ""
    )
    if not problem:
        try:
            assembly.load_state_dict(weights)
            return
        except (RuntimeError, KeyError, ValueError, TypeError) as err:
            problem = " ".join(str(err).split())[:300] or type(err).__name__
    raise CheckpointError(
        f"Checkpoint {str(path)!r} does not fit the networks of its recipe: {problem}; it is damaged or from "
        "another recipe, delete it"
    )


def _load_optimizers(trainer: BaseTrainer, state: Any, path: Path) -> None:
    for group, opt in trainer.optimizers.items():
        if group not in state:
            raise CheckpointError(
                f"Checkpoint {str(path)!r}: entry 'optimizers' has no state for parameter group {group!r}; it is "
                "damaged, delete it"
            )
        try:
            opt.load_state_dict(state[group])
        except (RuntimeError, KeyError, ValueError, TypeError) as err:
            first = " ".join(str(err).split())[:300] or type(err).__name__
            raise CheckpointError(
                f"Checkpoint {str(path)!r}: the optimiser state of parameter group {group!r} does not fit "
                f"({first}); it is damaged, delete it"
            ) from err


def _load_random_state(streams: RandomStreams, rng: Any, device: torch.device, path: Path) -> None:
    targets: list[tuple[str, Callable[[Tensor], Any]]] = [
        *((name, gen.set_state) for name, gen in streams.named().items()),
        ("cpu", torch.set_rng_state),
    ]
    if device.type == "cuda" and "cuda" in rng:
        targets.append(("cuda", lambda state: torch.cuda.set_rng_state(state, device)))
    for name, set_state in targets:
        if name not in rng:
            raise CheckpointError(
                f"Checkpoint {str(path)!r}: entry 'rng' has no random state {name!r}, so the run cannot "
                "continue bit-identically; it is damaged, delete it"
            )
        try:
            set_state(rng[name].cpu())
        except (RuntimeError, ValueError, TypeError) as err:
            first = " ".join(str(err).split())[:200] or type(err).__name__
            raise CheckpointError(
                f"Checkpoint {str(path)!r}: random state {name!r} is damaged ({first}); delete the checkpoint"
            ) from err


# ----------------------------------------------------------------------------------------------
# the loop


def train(
    spec: RecipeSpec,
    registries: Registries,
    *,
    data: ZSLData | None = None,
    out: str | os.PathLike[str] | None = None,
    resume: bool = False,
    progress: ProgressFn | None = None,
    dist: DistContext | None = None,
    on_start: Callable[[int], None] | None = None,
) -> TrainOutcome:
    """Train ``spec`` into the run folder ``out`` (config, metrics, checkpoints, summary).

    Args:
        spec: the resolved recipe.
        registries: component registries.
        data: the data (default: load ``spec.data`` through the registered dataset loader).
        out: the run folder (default ``runs/<recipe>-<dataset>-seed<seed>``).
        resume: continue from ``out``'s last checkpoint (its recipe must match ``spec``'s but
            for ``trainer.episodes`` and the ``run`` section).
        progress: called as ``progress(episode, total, record)`` at every log point.
        dist: the distributed context under torchrun (default: one process); only rank 0 writes.
        on_start: called with the first episode's predecessor (0, or the checkpoint's episode)
            once everything is built and restored, before anything in ``out`` is rewritten (the
            caller records the start there; a resume that fails before it changes no file).

    Returns:
        A :class:`TrainOutcome`.

    Raises:
        TrainingDivergedError: a loss, a parameter or an optimiser state became NaN/inf; the
            message names it and the episode, and the last good checkpoint is kept.
        CheckpointError: ``resume`` with a missing, damaged or mismatched checkpoint.
    """
    dist = dist if dist is not None else DistContext()
    device = resolve_device(spec.run.device, key="run.device")
    if dist.is_distributed and device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)
    if data is None:
        from modgen.data import load_dataset

        data = load_dataset(registries, spec.data)
    run = RunDir(out if out is not None else Path("runs") / f"{spec.name}-{data.name}-seed{spec.run.seed}")
    main = dist.is_main
    if main:
        run.create()
        run.remove_stale_temporaries()
    streams = RandomStreams.from_seed(spec.run.seed, device)
    seeds = stream_seeds(spec.run.seed)
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        # Dropout draws from the global RNG: seed it inside a fork so the caller's RNG state is
        # untouched and a run is reproducible from its seed. Each network's initialisation and
        # the task and noise streams have seeds of their own (paired comparisons of recipes).
        torch.manual_seed(seeds["dropout"])
        assembly = build_for_data(spec, registries, data, device, seed=seeds["init"])
        apply_threads(spec.run.threads, device, sum(p.numel() for p in assembly.parameters()))
        trainer_cls = registries.trainer.get(spec.trainer.name)
        trainer: BaseTrainer = trainer_cls(
            assembly=assembly, data=data, spec=spec, registries=registries, device=device, dist=dist
        )
        start = restore(run, spec, data, assembly, trainer, streams, device) if resume else 0
        if main:
            run.truncate_metrics(start)  # reads every record first: a damaged file fails here, unchanged
            if on_start is not None:
                on_start(start)
            atomic_write_text(run.config, spec_to_toml(spec))
        seconds, last = _loop(spec, run, data, assembly, trainer, streams, device, start, progress, main)
    if main:
        _write_summary(run, spec, data, trainer, device, dist, start, seconds, last)
    assembly.eval()
    episodes = int(getattr(trainer.settings, "episodes", start))
    return TrainOutcome(run, spec, assembly, data, episodes, seconds, device, last, dist.rank, start)


def _loop(
    spec: RecipeSpec,
    run: RunDir,
    data: ZSLData,
    assembly: Assembly,
    trainer: BaseTrainer,
    streams: RandomStreams,
    device: torch.device,
    start: int,
    progress: ProgressFn | None,
    main: bool,
) -> tuple[float, dict[str, float]]:
    total = int(trainer.settings.episodes)
    logger = MetricsLogger(run if main else None, total, spec.run.log_every, progress)
    checkpointer = Checkpointer(run, spec, data, assembly, trainer, streams, device, main=main)
    guard = DivergenceGuard(run, spec, start if run.checkpoint.exists() else None)
    sync_every = 1 if device.type == "cpu" else spec.run.log_every
    every = spec.run.checkpoint_every
    t0 = time.perf_counter()
    with _deferred_interrupt() as interrupt:
        for episode in range(start + 1, total + 1):
            logger.add(trainer.step(streams))
            if logger.due(episode) or episode % sync_every == 0:
                guard.check_losses(logger.sums, episode)
            if logger.due(episode):
                logger.flush(episode)
            stop = interrupt.requested
            if (every and episode % every == 0) or episode == total or stop:
                if logger.count:
                    guard.check_losses(logger.sums, episode)
                guard.check_state(_named_state(assembly, trainer), episode)
                checkpointer.save(episode)
                guard.last_good = episode
            if stop:  # Ctrl-C: the episode finished and was saved; resume goes on from here
                raise KeyboardInterrupt(f"interrupted after episode {episode}")
    return time.perf_counter() - t0, logger.last


class _Interrupt:
    requested = False


@contextlib.contextmanager
def _deferred_interrupt() -> Iterator[_Interrupt]:
    """Turn a first Ctrl-C into a request honoured at the end of the episode (a second one stops
    at once), so a checkpoint is never made of a half-applied update."""
    state = _Interrupt()
    if threading.current_thread() is not threading.main_thread():
        yield state
        return

    def handler(signum: int, frame: Any) -> None:
        if state.requested:
            raise KeyboardInterrupt
        state.requested = True

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield state
    finally:
        signal.signal(signal.SIGINT, previous)


def _write_summary(
    run: RunDir,
    spec: RecipeSpec,
    data: ZSLData,
    trainer: BaseTrainer,
    device: torch.device,
    dist: DistContext,
    start: int,
    seconds: float,
    last: dict[str, float],
) -> None:
    episodes = int(trainer.settings.episodes)
    run.write_json(
        run.summary,
        {
            "recipe": spec.name,
            "dataset": data.name,
            "episodes": episodes,
            "resumed_from": start,
            "train_seconds": seconds,
            "episodes_per_second": (episodes - start) / seconds if seconds > 0 and episodes > start else None,
            "device": str(device),
            "world_size": dist.world_size,
            "preprocessing": data.preprocessing,
            "last_metrics": last,
        },
    )


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
    dev = resolve_device(device, key="--device")
    ckpt = load_checkpoint(run.checkpoint, map_location=dev)
    if data is None:
        from modgen.data import load_dataset

        data = load_dataset(registries, spec.data)
    if ckpt["data"] != data_fingerprint(data):
        raise CheckpointError(
            f"Checkpoint {str(run.checkpoint)!r} was trained on {ckpt['data']}, not on {data_fingerprint(data)}"
        )
    assembly = build_for_data(spec, registries, data, dev)
    load_weights(assembly, ckpt["model"], run.checkpoint)
    assembly.eval()
    return TrainOutcome(run, spec, assembly, data, int(ckpt["episode"]), 0.0, dev, {})
