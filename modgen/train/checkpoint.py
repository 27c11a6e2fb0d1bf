"""Checkpoints: plain dicts of tensors and primitives, written atomically and checked on load.

A checkpoint is saved through a temporary file and a rename (a crash mid-write leaves the
previous one intact), loaded with ``weights_only=True`` (pickled code is never executed), and
validated against :data:`CHECKPOINT_KEYS` before anything in it is used.

Example:
    >>> import tempfile, torch
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "last.pt"
    >>> save_checkpoint(path, {"episode": 3, "model": {}, "optimizers": {}, "spec": "", "data": {},
    ...                        "rng": {"tasks": torch.Generator().get_state(), "cpu": torch.get_rng_state()}})
    >>> load_checkpoint(path)["episode"]
    3
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from modgen.errors import CheckpointError
from modgen.rundir import os_error

__all__ = ["CHECKPOINT_FORMAT", "CHECKPOINT_VERSION", "CHECKPOINT_KEYS", "save_checkpoint", "load_checkpoint"]

CHECKPOINT_FORMAT = "modgen-checkpoint"
CHECKPOINT_VERSION = 2

#: What every checkpoint holds, with the type of each entry.
CHECKPOINT_KEYS: dict[str, type | tuple[type, ...]] = {
    "episode": int,
    "model": Mapping,
    "optimizers": Mapping,
    "rng": Mapping,
    "spec": str,
    "data": Mapping,
}


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Save ``payload`` atomically: a crash mid-write leaves the previous checkpoint intact.

    Raises:
        ModgenError: the file cannot be written (full disk, permission, file size limit); the
            temporary file is removed and the previous checkpoint is kept.
    """
    path = Path(path)
    body = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **payload}
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        torch.save(body, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as err:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise os_error(err, path, "write the checkpoint") from err
    except RuntimeError as err:  # torch reports a failed write (full disk, ulimit -f) this way
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise os_error(_write_failure(err, path.parent), path, "write the checkpoint") from err
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise


def _write_failure(err: RuntimeError, folder: Path) -> OSError:
    """The OS error behind torch's failed write: a file size limit, a full disk, or torch's words."""
    import errno
    import resource
    import shutil

    first = str(err).splitlines()[0] if str(err) else type(err).__name__
    if resource.getrlimit(resource.RLIMIT_FSIZE)[0] != resource.RLIM_INFINITY:
        return OSError(errno.EFBIG, first)
    try:
        full = shutil.disk_usage(folder).free < 1 << 20
    except OSError:
        full = False
    return (
        OSError(errno.ENOSPC, first)
        if full
        else OSError(errno.EIO, f"torch could not write it ({first[:200]})")
    )


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and validate a checkpoint written by :func:`save_checkpoint`.

    Raises:
        CheckpointError: the file is missing, unreadable, corrupt, of another version, or lacks
            an entry of :data:`CHECKPOINT_KEYS` (or has one of the wrong type, or non-finite
            weights); the message names the file and the entry.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Checkpoint {str(path)!r} does not exist")
    try:
        body = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means a corrupt file
        first = str(err).splitlines()[0] if str(err) else ""
        if "Unsupported global" in str(err):  # a pickled reference to code: never resolved, never run
            raise CheckpointError(
                f"Checkpoint {str(path)!r} holds pickled objects other than tensors and plain values; it "
                "was not loaded (code in a checkpoint is never run). Use a checkpoint modgen wrote"
            ) from err
        raise CheckpointError(
            f"Checkpoint {str(path)!r} is corrupt or not a PyTorch file ({type(err).__name__}: "
            f"{first[:200]}); delete it or resume from another run"
        ) from err
    if not isinstance(body, dict) or body.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a modgen checkpoint (no format {CHECKPOINT_FORMAT!r})")
    if body.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"Checkpoint {str(path)!r} has version {body.get('version')!r}; this modgen reads "
            f"version {CHECKPOINT_VERSION} (train the run again with this modgen)"
        )
    for key, kind in CHECKPOINT_KEYS.items():
        if key not in body:
            raise CheckpointError(f"Checkpoint {str(path)!r} has no {key!r} entry; it is damaged, delete it")
        value = body[key]
        if kind is int and isinstance(value, int) and not isinstance(value, bool) and value < 0:
            raise CheckpointError(
                f"Checkpoint {str(path)!r}: entry {key!r} is {value}, expected an integer >= 0; it is "
                "damaged, delete it"
            )
        if not isinstance(value, kind) or (isinstance(value, int) and (isinstance(value, bool) or value < 0)):
            raise CheckpointError(
                f"Checkpoint {str(path)!r}: entry {key!r} is a {type(value).__name__}, expected "
                f"{getattr(kind, '__name__', kind)}; it is damaged, delete it"
            )
    for name, tensor in body["model"].items():
        if (
            isinstance(tensor, torch.Tensor)
            and tensor.is_floating_point()
            and not bool(torch.isfinite(tensor).all())
        ):
            raise CheckpointError(
                f"Checkpoint {str(path)!r}: weight {name!r} is not finite (NaN or inf); the run had "
                "diverged before it was saved. Delete it and train a new run (check the learning rates, "
                "trainer.sigma_train and the components' outputs)"
            )
    for name, tensor in _tensors(body["optimizers"], "optimizers"):
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(
                f"Checkpoint {str(path)!r}: optimiser state {name!r} is not finite (NaN or inf); it is "
                "damaged or the run had diverged. Delete it and train a new run"
            )
    for name, state in body["rng"].items():
        if not isinstance(state, torch.Tensor) or state.dtype != torch.uint8:
            raise CheckpointError(
                f"Checkpoint {str(path)!r}: random state {name!r} is not a byte tensor; it is damaged, delete it"
            )
    return body


def _tensors(value: Any, prefix: str) -> list[tuple[str, torch.Tensor]]:
    """Every tensor in a nest of mappings and lists, with its path (``optimizers.d.state.0.exp_avg``)."""
    if isinstance(value, torch.Tensor):
        return [(prefix, value)]
    if isinstance(value, Mapping):
        return [t for k, v in value.items() for t in _tensors(v, f"{prefix}.{k}")]
    if isinstance(value, (list, tuple)):
        return [t for i, v in enumerate(value) for t in _tensors(v, f"{prefix}.{i}")]
    return []


def is_finite_number(value: Any) -> bool:
    """Whether ``value`` is a finite int or float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
