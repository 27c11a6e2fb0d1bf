"""Data-parallel meta-training on :mod:`torch.distributed` (torchrun, one or many nodes).

``torchrun --nproc-per-node K -m modgen train ...`` starts ``K`` processes (ranks) per node;
:func:`setup_distributed` reads torchrun's environment (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``) and, when ``WORLD_SIZE > 1``, joins the
process group: NCCL with each rank on ``cuda:LOCAL_RANK`` when the run's device is CUDA, gloo
on CPUs. A plain ``python -m modgen train`` (no ``WORLD_SIZE``, or 1) is a 1-rank run and
nothing here does any work.

How an episode is split (:class:`DistContext`):

* **Same tasks as a 1-rank run.** Every rank seeds its episode generator with the run's seed,
  so every rank samples the *same* full episode of ``T`` tasks (and the same noise), then keeps
  its contiguous slice of ``T / K`` tasks (:meth:`DistContext.shard_tasks`; ``T`` must be
  divisible by ``K``). Each task keeps its own modulation and BatchNorm statistics, so no
  per-task computation changes.
* **Inner loop.** With ``adaptation="batch"`` the fast-adaptation gradient is that of the mean
  support loss over *all* ``T`` tasks: every rank's gradient of its own mean is averaged
  across ranks (:meth:`DistContext.all_reduce_inner`), differentiably (through
  :func:`torch.distributed.nn.functional.all_reduce`) when the meta-gradient is second order.
  With ``adaptation="task"`` each task adapts on its own and nothing is exchanged.
* **Outer loop.** Each rank's meta-gradients (of its mean query loss) are averaged
  (:meth:`DistContext.average_grads`) before the optimiser step, as are the logged loss parts
  (:meth:`DistContext.average_scalars`). The mean of ``K`` equal-sized means is the mean over
  all ``T`` tasks, so a ``K``-rank run computes the 1-rank run's update up to float rounding.
* **Identical parameters.** Parameters and buffers are broadcast from rank 0 when a trainer is
  built; afterwards every rank applies the same averaged update with the same optimiser state.
* **Dropout.** Each episode, each rank seeds the global RNG from the episode generator's state
  and its rank (:meth:`DistContext.seed_rank_rng`), so ranks draw different masks for their
  different tasks and a resumed run draws the masks an uninterrupted one would. (With dropout
  on, a ``K``-rank run is therefore not bit-comparable with the 1-rank run; with dropout 0 it is.)
* **The plain trainer** (``clswgan``) draws each full mini-batch (and its noise) on every rank
  and keeps its slice of ``batch_size / K`` samples; gradients are averaged. Its BatchNorm
  statistics are then taken per rank over ``batch_size / K`` samples (as with DDP without
  SyncBatchNorm), so unlike the meta-trainer it is not equivalent to the 1-rank run.

Only rank 0 writes the run folder (config, metrics, checkpoints, summary, results); every rank
reads the checkpoint on resume, so on several nodes the run folder must be on a shared file
system.

Example (a 1-rank context does nothing and slices nothing):
    >>> import torch
    >>> ctx = DistContext()
    >>> ctx.is_main, ctx.task_slice(4, "task_sampler.tasks")
    (True, slice(0, 4, None))
    >>> ctx.average_scalars({"loss/d": torch.tensor(1.5)})
    {'loss/d': tensor(1.5000)}
"""

from __future__ import annotations

import atexit
import datetime
import hashlib
import os
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from attrs import field, frozen
from torch import Tensor, nn

from modgen.errors import ConfigError

__all__ = [
    "DistContext",
    "DistEnv",
    "read_env",
    "current_context",
    "setup_distributed",
    "DEFAULT_TIMEOUT_S",
]

#: How long a collective waits for the other ranks. Long, since rank 0 evaluates a finished
#: run (``modgen train --seeds N``) while the other ranks already wait in the next run.
DEFAULT_TIMEOUT_S = 3 * 3600


@frozen
class DistEnv:
    """Where this process stands in a torchrun job, as read from its environment.

    Attributes:
        rank: global rank ``RANK`` in ``[0, world_size)``.
        world_size: ``WORLD_SIZE``, the number of processes of the job (1: not distributed).
        local_rank: ``LOCAL_RANK``, the rank on this node (the CUDA device index).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0


def _env_int(environ: Mapping[str, str], key: str, default: int, low: int, high: int | None) -> int:
    raw = environ.get(key)
    if raw is None or raw.strip() == "":
        return default
    bound = f"in [{low}, {high})" if high is not None else f">= {low}"
    try:
        value = int(raw.strip())
    except ValueError as err:
        raise ConfigError(
            f"environment variable {key}={raw!r}: expected an integer {bound} (torchrun sets it; "
            f"unset it for a single-process run)"
        ) from err
    if value < low or (high is not None and value >= high):
        raise ConfigError(
            f"environment variable {key}={raw!r}: expected an integer {bound} (torchrun sets it; "
            f"unset it for a single-process run)"
        )
    return value


def read_env(environ: Mapping[str, str] | None = None) -> DistEnv:
    """Read ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` (torchrun's variables).

    Args:
        environ: the environment (default :data:`os.environ`).

    Returns:
        A :class:`DistEnv`; ``world_size`` 1 when ``WORLD_SIZE`` is unset.

    Raises:
        ConfigError: a variable is not an integer, or out of range (``RANK >= WORLD_SIZE``).

    Example:
        >>> read_env({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"})
        DistEnv(rank=1, world_size=2, local_rank=1)
        >>> read_env({})
        DistEnv(rank=0, world_size=1, local_rank=0)
    """
    env = os.environ if environ is None else environ
    world = _env_int(env, "WORLD_SIZE", 1, 1, None)
    rank = _env_int(env, "RANK", 0, 0, world)
    local = _env_int(env, "LOCAL_RANK", 0, 0, None)
    return DistEnv(rank=rank, world_size=world, local_rank=local)


def _flat(tensors: list[Tensor]) -> Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


def _unflat(flat: Tensor, like: list[Tensor]) -> list[Tensor]:
    out, i = [], 0
    for t in like:
        n = t.numel()
        out.append(flat[i : i + n].view_as(t))
        i += n
    return out


class _AllReduceSum(torch.autograd.Function):
    """``y = sum over ranks of x``; its backward is the same sum of the output gradients.

    Rank ``r``'s meta-loss depends on every rank's inner gradient through ``y``; the backward
    sum hands each rank the gradient of the sum of all ranks' losses with respect to its own
    ``x``, so averaging the meta-gradients afterwards gives the gradient of the mean loss.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        import torch.distributed as dist

        y = x.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(y, op=dist.ReduceOp.SUM)
        return y

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return _AllReduceSum.apply(grad)


@frozen
class DistContext:
    """This process's rank in the training job and the collectives the trainers use.

    A default ``DistContext()`` is a 1-rank run: every method is then the identity (no
    collective, no copy), so trainers call them unconditionally.

    Attributes:
        rank: global rank.
        world_size: number of ranks ``K``.
        local_rank: rank on this node.
        backend: ``"nccl"``, ``"gloo"`` or ``""`` (1 rank).
    """

    rank: int = field(default=0)
    world_size: int = field(default=1)
    local_rank: int = field(default=0)
    backend: str = field(default="")

    @property
    def is_distributed(self) -> bool:
        """More than one rank."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that writes files and prints progress."""
        return self.rank == 0

    # -- splitting ------------------------------------------------------------------------------
    def task_slice(self, total: int, what: str) -> slice:
        """This rank's contiguous share of ``total`` items (tasks, or samples of a mini-batch).

        Args:
            total: the number of items of the full episode or batch.
            what: the config key that sets ``total`` (named in the error).

        Returns:
            ``slice(rank * total / K, (rank + 1) * total / K)``.

        Raises:
            ConfigError: ``total`` is not divisible by ``K``.
        """
        k = self.world_size
        if total % k:
            options = [d for d in range(k, 8 * k + 1, k)]
            raise ConfigError(
                f"{what} = {total} cannot be split evenly across {k} processes (WORLD_SIZE={k}): "
                f"each rank takes an equal, contiguous share, so {what} must be a multiple of {k} "
                f"(e.g. {', '.join(map(str, options[:4]))}), or run a number of processes that divides {total}"
            )
        n = total // k
        return slice(self.rank * n, (self.rank + 1) * n)

    def shard_tasks(self, tensors: dict[str, Tensor], what: str = "task_sampler.tasks") -> dict[str, Tensor]:
        """This rank's tasks of an episode's tensors ``(T, ...) -> (T / K, ...)``.

        Raises:
            ConfigError: ``T`` is not divisible by ``K``.
        """
        if not self.is_distributed:
            return tensors
        total = next(iter(tensors.values())).shape[0]
        sl = self.task_slice(int(total), what)
        return {k: v[sl] for k, v in tensors.items()}

    def seed_rank_rng(self, gen: torch.Generator) -> None:
        """Seed the global RNG (dropout's source) from the episode generator's state and the rank.

        Every rank holds the same episode generator, so without this each rank would draw the
        same dropout masks for its different tasks. The seed is a function of the generator's
        state (saved in checkpoints) and the rank, so a resumed run draws the same masks as an
        uninterrupted one and no rank's RNG state needs saving. 1 rank: nothing changes.
        """
        if not self.is_distributed:
            return
        state = gen.get_state().cpu().numpy().tobytes()
        digest = hashlib.blake2b(state + self.rank.to_bytes(4, "little"), digest_size=8).digest()
        torch.manual_seed(int.from_bytes(digest, "little") & (2**63 - 1))

    # -- collectives ----------------------------------------------------------------------------
    def all_reduce_inner(self, grads: list[Tensor], *, differentiable: bool) -> list[Tensor]:
        """The mean over ranks of inner-loop gradients (one all-reduce for all of them).

        Args:
            grads: this rank's gradients of its mean support loss.
            differentiable: keep the result differentiable (second-order meta-gradients):
                the backward of the sum over ranks all-reduces the incoming gradients in turn
                (what :func:`torch.distributed.nn.functional.all_reduce` does; that function is
                deprecated in recent torch, so the same autograd function is defined here).

        Returns:
            The averaged gradients, shaped as ``grads``.
        """
        if not self.is_distributed or not grads:
            return grads
        import torch.distributed as dist

        if differentiable:
            flat = _AllReduceSum.apply(_flat(grads)) / self.world_size
        else:
            flat = _flat([g.detach() for g in grads])
            dist.all_reduce(flat, op=dist.ReduceOp.SUM)
            flat = flat / self.world_size
        return _unflat(flat, grads)

    def average_grads(self, params: Iterable[Tensor]) -> None:
        """Average every parameter's ``.grad`` across ranks, in place (``None`` grads skipped).

        Every rank computes the same graph, so the same parameters have ``None`` grads on all.
        """
        if not self.is_distributed:
            return
        import torch.distributed as dist

        grads = [p.grad for p in params if p.grad is not None]
        by_dtype: dict[torch.dtype, list[Tensor]] = {}
        for g in grads:
            by_dtype.setdefault(g.dtype, []).append(g)
        for group in by_dtype.values():
            flat = _flat(group)
            dist.all_reduce(flat, op=dist.ReduceOp.SUM)
            flat /= self.world_size
            for g, avg in zip(group, _unflat(flat, group), strict=True):
                g.copy_(avg)

    def average_scalars(self, parts: dict[str, Tensor]) -> dict[str, Tensor]:
        """The mean over ranks of scalar tensors (the logged loss parts), in one all-reduce."""
        if not self.is_distributed or not parts:
            return parts
        import torch.distributed as dist

        keys = sorted(parts)
        flat = torch.stack([parts[k].detach().float().reshape(()) for k in keys])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        flat /= self.world_size
        return {k: flat[i] for i, k in enumerate(keys)}

    def broadcast_module(self, module: nn.Module) -> None:
        """Copy rank 0's parameters and buffers into every rank's ``module``, in place."""
        if not self.is_distributed:
            return
        import torch.distributed as dist

        tensors = [t for t in module.state_dict(keep_vars=True).values() if t.is_floating_point()]
        with torch.no_grad():
            by_dtype: dict[torch.dtype, list[Tensor]] = {}
            for t in tensors:
                by_dtype.setdefault(t.dtype, []).append(t)
            for group in by_dtype.values():
                flat = _flat([t.detach() for t in group])
                dist.broadcast(flat, src=0)
                for t, value in zip(group, _unflat(flat, group), strict=True):
                    t.copy_(value)


def current_context() -> DistContext:
    """The :class:`DistContext` of the initialised default process group (1 rank when none).

    Example:
        >>> current_context().world_size  # no process group in a plain Python session
        1
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return DistContext()
    env = read_env()
    return DistContext(
        rank=dist.get_rank(),
        world_size=dist.get_world_size(),
        local_rank=env.local_rank,
        backend=str(dist.get_backend()),
    )


def _destroy() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def setup_distributed(
    device: torch.device,
    *,
    environ: Mapping[str, str] | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> tuple[DistContext, torch.device]:
    """Join torchrun's process group when ``WORLD_SIZE > 1``; pick this rank's device.

    Idempotent: a process group already initialised (a second run of ``--seeds N``, or one
    the caller made) is reused. The group made here is destroyed when the process exits.

    Args:
        device: the run's resolved device; a CUDA device becomes ``cuda:LOCAL_RANK`` (each
            rank its own GPU) and selects NCCL, a CPU device selects gloo.
        environ: the environment (default :data:`os.environ`).
        timeout_s: how long a collective waits for the other ranks.

    Returns:
        ``(context, device)``; ``(DistContext(), device)`` for a 1-rank run.

    Raises:
        ConfigError: malformed torchrun variables, ``MASTER_ADDR``/``MASTER_PORT`` missing, or
            ``LOCAL_RANK`` beyond the visible GPUs.

    Example:
        >>> import torch
        >>> setup_distributed(torch.device("cpu"), environ={})
        (DistContext(rank=0, world_size=1, local_rank=0, backend=''), device(type='cpu'))
    """
    import torch.distributed as dist

    env = read_env(environ)
    if env.world_size == 1:
        return DistContext(), device
    if device.type == "cuda":
        count = torch.cuda.device_count()
        if env.local_rank >= count:
            raise ConfigError(
                f"LOCAL_RANK={env.local_rank} but only {count} CUDA device(s) are visible: each rank "
                f"uses cuda:LOCAL_RANK, so start at most {count} processes per node (--nproc-per-node)"
            )
        device = torch.device("cuda", env.local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        backend = "gloo"
    if not dist.is_initialized():
        values = os.environ if environ is None else environ
        missing = [k for k in ("MASTER_ADDR", "MASTER_PORT") if not values.get(k)]
        if missing:
            raise ConfigError(
                f"WORLD_SIZE={env.world_size} but {' and '.join(missing)} is not set: start the job "
                f"with torchrun (it sets them), or set MASTER_ADDR/MASTER_PORT to rank 0's address"
            )
        store_env = None if environ is None else dict(environ)
        kwargs: dict[str, Any] = {
            "backend": backend,
            "rank": env.rank,
            "world_size": env.world_size,
            "timeout": datetime.timedelta(seconds=timeout_s),
        }
        if store_env is not None:
            kwargs["init_method"] = f"tcp://{store_env['MASTER_ADDR']}:{store_env['MASTER_PORT']}"
        dist.init_process_group(**kwargs)
        atexit.register(_destroy)
    ctx = DistContext(
        rank=dist.get_rank(),
        world_size=dist.get_world_size(),
        local_rank=env.local_rank,
        backend=str(dist.get_backend()),
    )
    return ctx, device
