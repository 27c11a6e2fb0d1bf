"""The training loop shared by every trainer: seeding, logging, checkpoints, the guard.

:func:`train` is a pure loop over small parts: :class:`MetricsLogger` (sums the loss parts and
appends a record every ``run.log_every`` episodes),
:class:`~modgen.train.checkpoint.Checkpointer` and :func:`~modgen.train.checkpoint.restore`
(save and resume, side by side in :mod:`modgen.train.checkpoint`), and :class:`DivergenceGuard`
(losses, parameters and optimiser state must stay finite). The caller decides the data, the run
folder, the device and the threads, and owns the run folder's lifecycle (:mod:`modgen.pipeline`).
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import torch
from attrs import define
from torch import Tensor

from modgen.config import RecipeSpec
from modgen.distributed import DistContext
from modgen.errors import ConfigError, Terminated, TrainingDivergedError
from modgen.rundir import RunDir, now
from modgen.train.base import RandomStreams, stream_seeds
from modgen.train.checkpoint import Checkpointer, restore

if TYPE_CHECKING:
    from modgen.assembly import Assembly
    from modgen.data.zsldata import ZSLData
    from modgen.registry import Registries
    from modgen.train.base import BaseTrainer

__all__ = ["TrainOutcome", "MetricsLogger", "DivergenceGuard", "train", "build_for_data", "preflight"]

ProgressFn = Callable[[int, int, dict[str, Any]], None]
#: Called as ``on_record(episode, record)`` for every written record; a non-empty string asks the
#: loop to stop after this episode (the reason is kept in :attr:`TrainOutcome.stopped`).
RecordFn = Callable[[int, dict[str, Any]], "str | None"]
#: ``on_checkpoint(episode, assembly)``: called on the main process after each checkpoint is saved.
CheckpointFn = Callable[[int, "Assembly"], None]


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
    #: why training stopped before its last episode (an ``on_record`` request), else ``None``.
    stopped: str | None = None


#: Bytes a parameter takes in training, per byte of its own: weights, gradients, Adam's two moments.
TRAINING_COPIES = 4


def _check_fits(spec: RecipeSpec, registries: Registries, data: ZSLData, device: torch.device) -> None:
    """Refuse networks whose parameters alone cannot fit the machine, before any is allocated.

    The assembly is built on the meta device (shapes only); its parameters, with their gradients
    and optimiser state (:data:`TRAINING_COPIES`), are compared with the memory of the machine
    they are built on (the CPU's, and a GPU's when that is the device).

    Raises:
        ConfigError: they cannot fit; the message names the largest network and its parameters.
    """
    from modgen.assembly import build_assembly

    try:
        with torch.random.fork_rng(devices=[]):
            meta = build_assembly(
                spec,
                registries,
                attr_dim=data.attr_dim,
                feature_dim=data.feature_dim,
                num_classes=len(data.seen_classes),
                device="meta",
            )
    except RuntimeError as err:
        if "overflow" not in str(err):
            return  # no estimate: the real build reports what is wrong
        raise ConfigError(
            f"the networks cannot be built, a tensor would be too large ({str(err).splitlines()[0][:120]}); "
            f"the largest setting is {_largest_setting(spec)}: make it smaller"
        ) from None
    except Exception:  # noqa: BLE001 - no estimate: the real build reports what is wrong
        return
    networks = meta.networks()
    sizes = {
        kind: sum(p.numel() * p.element_size() for p in net.parameters()) for kind, net in networks.items()
    }
    need = TRAINING_COPIES * sum(sizes.values())
    limits = [("memory", _physical_memory())]
    if device.type == "cuda":
        limits.append((f"{device} memory", torch.cuda.get_device_properties(device).total_memory))
    for where, limit in limits:
        if limit and need > limit:
            kind = max(sizes, key=lambda k: sizes[k])
            count = sum(p.numel() for p in networks[kind].parameters())
            raise ConfigError(
                f"the {kind} {spec.components()[kind].name!r} has {count:,} parameters; training the networks "
                f"needs about {need / 2**30:,.1f} GiB, more than this machine's {where} ({limit / 2**30:,.1f} GiB); "
                f"the largest setting is {_largest_setting(spec)}: make it smaller"
            )


def _largest_setting(spec: RecipeSpec) -> str:
    """``kind.params.key = value`` of the largest whole number among the components' parameters."""
    best: tuple[int, str] = (0, "?")
    for kind, comp in spec.components().items():
        for key, value in comp.params.items():
            values = value if isinstance(value, (list, tuple)) else [value]
            for v in values:
                if isinstance(v, int) and not isinstance(v, bool) and v > best[0]:
                    best = (v, f"{kind}.params.{key} = {value!r}")
    return best[1]


def _physical_memory() -> int:
    """The machine's memory in bytes (0: unknown)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        return 0


def build_for_data(
    spec: RecipeSpec, registries: Registries, data: ZSLData, device: torch.device, *, seed: int | None = None
) -> Assembly:
    """Build the recipe's assembly for ``data``'s shapes on ``device`` and check the data fits it.

    ``seed`` seeds each network's initialisation on its own stream (see
    :func:`~modgen.assembly.build_assembly`); ``None`` draws from the global RNG.
    """
    from modgen.assembly import ASSEMBLY_KINDS, build_assembly

    _check_fits(spec, registries, data, device)
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
        if kind in ASSEMBLY_KINDS
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
) -> int:
    """Build the networks and the trainer for ``data`` once and forget them: every component's
    parameters, its forward check and the task sampler's fit to the data are checked before a
    run folder is made or changed (nothing is trained, written or drawn from the caller's RNG).

    Returns:
        The number of parameters of the networks (what the thread policy,
        :func:`modgen.runtime.apply_threads`, needs).

    Raises:
        ModgenError: what building the run would raise (ConfigError, DataError, PluginError, ...).
    """
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        assembly = build_for_data(spec, registries, data, device, seed=stream_seeds(spec.run.seed)["init"])
        trainer_cls = registries.trainer.get(spec.trainer.name)
        trainer_cls(assembly=assembly, data=data, spec=spec, registries=registries, device=device, dist=dist)
    return sum(p.numel() for p in assembly.parameters())


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
        t = time.perf_counter()
        self.last = {k: float(v) / self.count for k, v in self.sums.items()}
        record = {
            "episode": episode,
            **self.last,
            "seconds_per_episode": (t - self._t) / max(self.count, 1),
            "time": now(),
        }
        if self.run is not None:
            self.run.append_metrics([record])
            if self.progress is not None:
                self.progress(episode, self.total, record)
        self.sums, self.count, self._t = {}, 0, t
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


# ----------------------------------------------------------------------------------------------
# the loop


def train(
    spec: RecipeSpec,
    registries: Registries,
    *,
    data: ZSLData,
    out: str | os.PathLike[str],
    device: torch.device | str,
    resume: bool = False,
    progress: ProgressFn | None = None,
    dist: DistContext | None = None,
    on_start: Callable[[int], None] | None = None,
    on_record: RecordFn | None = None,
    on_checkpoint: CheckpointFn | None = None,
    stop_at: tuple[int, str] | None = None,
) -> TrainOutcome:
    """Train ``spec`` on ``data`` into the run folder ``out``: metrics, checkpoints, summary.

    A pure loop: the caller decides the data, the folder, the device and the CPU threads (and
    records them); ``train`` builds the networks and the trainer, restores the checkpoint when
    resuming, and runs the episodes. The pipeline's :func:`~modgen.pipeline.train_or_load` adds
    the folder's ``config.toml`` and the resume rule around it.

    Args:
        spec: the resolved recipe.
        registries: component registries.
        data: the data.
        out: the run folder (made if missing).
        device: where the networks live (under torchrun: this rank's device).
        resume: continue from ``out``'s last checkpoint (its recipe must match ``spec``'s but
            for ``trainer.episodes`` and the ``run`` section: :func:`~modgen.train.checkpoint.recipe_difference`).
        progress: called as ``progress(episode, total, record)`` at every log point.
        dist: the distributed context under torchrun (default: one process); only rank 0 writes.
        on_start: called with the first episode's predecessor (0, or the checkpoint's episode)
            once everything is built and restored, before anything in ``out`` is rewritten (the
            caller records the start there; a resume that fails before it changes no file).
        on_record: called on the main process as ``on_record(episode, record)`` after each record
            is written; a non-empty string it returns stops training after that episode (saved
            as the last checkpoint; under torchrun every rank stops).
        on_checkpoint: called on the main process as ``on_checkpoint(episode, assembly)`` after
            each checkpoint is saved (BatchNorm calibrated, networks as saved), with the global
            RNG forked: what it computes never changes the training stream (the checkpoint
            selection of :func:`~modgen.pipeline.choose_settings` scores the networks there).
        stop_at: ``(episode, reason)``: stop after that episode (saved as the last checkpoint,
            ``reason`` as for ``on_record``): the training length chosen on the validation
            classes (``evaluation.checkpoint="val"``).

    Returns:
        A :class:`TrainOutcome`.

    Raises:
        TrainingDivergedError: a loss, a parameter or an optimiser state became NaN/inf; the
            message names it and the episode, and the last good checkpoint is kept.
        CheckpointError: ``resume`` with a missing, damaged or mismatched checkpoint.

    Example:
        >>> import torch
        >>> from modgen.data import load_digits_zsl
        >>> outcome = train(spec, registries, data=load_digits_zsl(), out="runs/demo",
        ...                 device=torch.device("cpu"))  # doctest: +SKIP
    """
    dist = dist if dist is not None else DistContext()
    device = torch.device(device)
    run = RunDir(out)
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
        trainer_cls = registries.trainer.get(spec.trainer.name)
        trainer: BaseTrainer = trainer_cls(
            assembly=assembly, data=data, spec=spec, registries=registries, device=device, dist=dist
        )
        start = restore(run, spec, data, assembly, trainer, streams, device) if resume else 0
        if main:
            run.truncate_metrics(start)  # reads every record first: a damaged file fails here, unchanged
            if on_start is not None:
                on_start(start)
        seconds, last, stopped = _loop(
            spec,
            run,
            data,
            assembly,
            trainer,
            streams,
            device,
            start,
            progress,
            main,
            on_record,
            on_checkpoint,
            stop_at,
        )
    episodes = int(getattr(trainer.settings, "episodes", start)) if stopped is None else stopped[0]
    if main:
        _write_summary(run, spec, data, trainer, device, dist, start, seconds, last, episodes)
    assembly.eval()
    reason = None if stopped is None else stopped[1]
    return TrainOutcome(run, spec, assembly, data, episodes, seconds, device, last, dist.rank, start, reason)


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
    on_record: RecordFn | None = None,
    on_checkpoint: CheckpointFn | None = None,
    stop_at: tuple[int, str] | None = None,
) -> tuple[float, dict[str, float], tuple[int, str] | None]:
    total = int(trainer.settings.episodes)
    logger = MetricsLogger(run if main else None, total, spec.run.log_every, progress)
    checkpointer = Checkpointer(run, spec, data, assembly, trainer, streams, device, main=main)
    guard = DivergenceGuard(run, spec, start if run.checkpoint.exists() else None)
    sync_every = 1 if device.type == "cpu" else spec.run.log_every
    every = spec.run.checkpoint_every
    t0 = time.perf_counter()
    stopped: tuple[int, str] | None = None
    with _deferred_interrupt() as interrupt:
        for episode in range(start + 1, total + 1):
            logger.add(trainer.step(streams))
            if logger.due(episode) or episode % sync_every == 0:
                guard.check_losses(logger.sums, episode)
            if logger.due(episode):
                record = logger.flush(episode)
                reason = _stop_request(on_record if main else None, episode, record, trainer)
                if reason:
                    stopped = (episode, reason)
            if stop_at is not None and episode == stop_at[0] and episode < total:
                stopped = (episode, stop_at[1])
            stop = interrupt.requested
            if (every and episode % every == 0) or episode == total or stop or stopped:
                if logger.count:
                    guard.check_losses(logger.sums, episode)
                guard.check_state(_named_state(assembly, trainer), episode)
                checkpointer.save(episode)
                guard.last_good = episode
                if on_checkpoint is not None and main:
                    _scored(on_checkpoint, episode, assembly, device)
            if stop:  # Ctrl-C or SIGTERM: the episode finished and was saved; resume goes on from here
                raise _stop(stop, f"interrupted after episode {episode}")
            if stopped:
                break
    return time.perf_counter() - t0, logger.last, stopped


def _scored(on_checkpoint: CheckpointFn, episode: int, assembly: Assembly, device: torch.device) -> None:
    """``on_checkpoint`` with the global RNG forked and the networks' modes restored afterwards."""
    devices = [device.index or 0] if device.type == "cuda" else []
    modes = [(m, m.training) for m in assembly.modules()]
    with torch.random.fork_rng(devices=devices):
        on_checkpoint(episode, assembly)
    for m, mode in modes:
        m.train(mode)


def _stop_request(
    on_record: RecordFn | None, episode: int, record: dict[str, Any], trainer: BaseTrainer
) -> str | None:
    """The main process's ``on_record`` answer, shared with every rank under torchrun."""
    reason = on_record(episode, record) if on_record is not None else None
    dist = getattr(trainer, "dist", None)
    if dist is not None and dist.is_distributed:  # every rank must stop at the same episode
        flag = dist.average_scalars({"stop": torch.tensor(1.0 if reason else 0.0, device=trainer.device)})
        if float(flag["stop"]) > 0 and not reason:
            reason = "stopped by rank 0"
    return reason or None


class _Interrupt:
    requested: int = 0  # the signal asking to stop (0: none)


@contextlib.contextmanager
def _deferred_interrupt() -> Iterator[_Interrupt]:
    """Turn a first Ctrl-C or SIGTERM into a request honoured at the end of the episode (a second
    one stops at once), so a checkpoint is never made of a half-applied update."""
    state = _Interrupt()
    if threading.current_thread() is not threading.main_thread():
        yield state
        return

    def handler(signum: int, frame: Any) -> None:
        if state.requested:
            raise _stop(signum)
        state.requested = signum

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield state
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _stop(signum: int, message: str = "") -> KeyboardInterrupt:
    """The exception that ends the run after signal ``signum``: :class:`Terminated` for SIGTERM."""
    return Terminated(message) if signum == signal.SIGTERM else KeyboardInterrupt(message)


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
    episodes: int,
) -> None:
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
