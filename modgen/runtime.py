"""Where computation runs: devices and CPU threads, decided in one place for every command.

Example:
    >>> resolve_device("cpu")
    device(type='cpu')
"""

from __future__ import annotations

import os
from typing import Any

import torch

from modgen.config import check_device_name
from modgen.errors import ConfigError

__all__ = [
    "resolve_device",
    "choose_threads",
    "apply_threads",
    "thread_policy",
    "available_cores",
    "git_commit",
    "machine_name",
]


def resolve_device(device: Any, *, key: str = "device") -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cpu``, ``cuda``, ``cuda:N`` are checked.

    Args:
        device: a name or a :class:`torch.device`.
        key: the setting's name, used in errors (``run.device``, ``--device``).

    Raises:
        ConfigError: an unknown name, or CUDA asked for where there is none.

    Example:
        >>> resolve_device(torch.device("cpu"), key="run.device")
        device(type='cpu')
    """
    if isinstance(device, torch.device):
        return device
    name = check_device_name(device, key=key)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"{key} is {name!r} but no CUDA device is available; use auto or cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(
                f"{key} is {name!r} but this machine has {torch.cuda.device_count()} CUDA device(s); "
                f"use cuda:0 ... cuda:{torch.cuda.device_count() - 1}"
            )
    return dev


#: Networks with fewer parameters than this train fastest on one CPU thread (measured: 600
#: digits episodes, 0.2M parameters, 15.6 s on 1 thread vs 296 s on torch's default 2 threads of
#: a shared 2-core machine); bigger ones use the cores they are given.
SMALL_NETWORK_PARAMS = 2_000_000

#: Parameters from which a run's networks are GPU-sized (the paper's: 21M for clswgan, 64M for
#: amaz at AWA2's shapes; the ``auto`` preset's widest, 512, stays under 10M); on a CPU such a run
#: gets a one-line hint (:func:`cpu_size_hint`).
GPU_SIZED_PARAMS = 20_000_000


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def choose_threads(requested: int, device: torch.device, n_params: int | None = None) -> int:
    """The torch thread count modgen uses: ``requested`` if > 0, else its policy.

    Policy (``run.threads = 0``): one thread for small networks and for work that runs on a GPU
    (the CPU side then only feeds the device); every available core, up to 16, for networks of
    :data:`SMALL_NETWORK_PARAMS` parameters or more on a CPU.

    Example:
        >>> choose_threads(0, torch.device("cpu"), n_params=10_000)
        1
        >>> choose_threads(3, torch.device("cpu"))
        3
    """
    if requested > 0:
        return requested
    if device.type != "cpu" or n_params is None or n_params < SMALL_NETWORK_PARAMS:
        return 1
    return min(16, available_cores())


def thread_policy(requested: int, device: torch.device, n_params: int | None = None) -> str:
    """Why :func:`choose_threads` chose its number, in words (``modgen -v`` prints it).

    Example:
        >>> thread_policy(0, torch.device("cpu"), n_params=210_000)
        '1 thread (run.threads=0, the policy: a network of 0.21M parameters < 2M on cpu runs fastest on one)'
        >>> thread_policy(2, torch.device("cpu"))
        '2 threads (run.threads=2, as asked)'
    """
    n = choose_threads(requested, device, n_params)
    count = f"{n} thread{'s' if n != 1 else ''}"
    if requested > 0:
        return f"{count} (run.threads={requested}, as asked)"
    size = (
        f"a network of {n_params / 1e6:.2f}M parameters" if n_params is not None else "work of unknown size"
    )
    if device.type != "cpu":
        why = f"on {device.type} the CPU only feeds the device"
    elif n_params is None or n_params < SMALL_NETWORK_PARAMS:
        why = f"{size} < {SMALL_NETWORK_PARAMS // 1_000_000}M on cpu runs fastest on one"
    else:
        why = f"{size} on cpu gets the available cores, up to 16 ({available_cores()} here)"
    return f"{count} (run.threads=0, the policy: {why})"


def apply_threads(requested: int, device: torch.device, n_params: int | None = None) -> int:
    """Set torch's intra-op threads by :func:`choose_threads`; return the number set."""
    n = choose_threads(requested, device, n_params)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def git_commit(path: str | os.PathLike[str] | None = None) -> str | None:
    """The git commit of the working tree at ``path`` (default: modgen's source), ``+dirty`` if
    it has uncommitted changes; ``None`` outside a git checkout or without git."""
    import subprocess

    where = str(path) if path is not None else os.path.dirname(os.path.abspath(__file__))
    try:
        head = subprocess.run(
            ["git", "-C", where, "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, timeout=5
        )
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", where, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def machine_name(device: Any) -> str:
    """A short description of the machine and device (GPU model, or CPU and core count)."""
    import platform

    dev = torch.device(device)
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    return f"{platform.processor() or platform.machine()} ({available_cores()} cores)"


def cpu_size_hint(device: torch.device, n_params: int | None, episodes: Any) -> str | None:
    """One line for a GPU-sized run about to train on a CPU (``None`` otherwise).

    Example:
        >>> cpu_size_hint(torch.device("cpu"), 64_000_000, 15000)[:43]
        'GPU-sized networks on a CPU: 64M parameters'
        >>> cpu_size_hint(torch.device("cpu"), 3_000_000, 2000) is None
        True
    """
    if device.type != "cpu" or n_params is None or n_params < GPU_SIZED_PARAMS:
        return None
    return (
        f"GPU-sized networks on a CPU: {n_params / 1e6:.0f}M parameters, {episodes} episodes (the "
        "paper's sizes); this takes hours here. `--preset auto` sizes the networks from the data; "
        "`--device cuda` runs on a GPU"
    )
