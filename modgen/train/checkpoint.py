"""Checkpoints: saved and restored side by side, as plain dicts of tensors and primitives.

* :func:`save_checkpoint` / :func:`load_checkpoint`: the file. A checkpoint is saved through a
  temporary file and a rename (a crash mid-write leaves the previous one intact), loaded with
  ``weights_only=True`` (pickled code is never executed), and validated against
  :data:`CHECKPOINT_KEYS` before anything in it is used.
* :class:`Checkpointer` saves what a bit-exact resume needs (networks, optimisers, random
  streams, the spec, the data's fingerprint); :func:`restore` loads all of it back after
  checking that the checkpoint continues the spec (:func:`recipe_difference`, the resume rule)
  and fits the data; :func:`load_weights` loads the networks alone.

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

import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from attrs import evolve
from torch import Tensor

from modgen.config import RecipeSpec, spec_from_toml, spec_to_dict, spec_to_toml
from modgen.errors import CheckpointError, ConfigError
from modgen.rundir import RunDir, os_error, record_written

if TYPE_CHECKING:
    from modgen.assembly import Assembly
    from modgen.data.zsldata import ZSLData
    from modgen.train.base import BaseTrainer, RandomStreams

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "CHECKPOINT_KEYS",
    "save_checkpoint",
    "load_checkpoint",
    "data_fingerprint",
    "recipe_difference",
    "Checkpointer",
    "restore",
    "load_weights",
]

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
        record_written(path)
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


# ----------------------------------------------------------------------------------------------
# save and restore a run's training state


def data_fingerprint(data: ZSLData) -> dict[str, Any]:
    """What a checkpoint records of its data, to refuse loading it into other data."""
    return {
        "dataset": data.name,
        "attr_dim": int(data.attr_dim),
        "feature_dim": int(data.feature_dim),
        "seen_classes": [int(c) for c in data.seen_classes],
    }


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


def recipe_difference(saved: RecipeSpec, spec: RecipeSpec) -> str | None:
    """The resume rule: the first setting in which ``spec`` does not continue ``saved`` (only
    ``trainer.episodes`` and the run section may differ), as ``key: checkpoint value, now value``;
    ``None`` when it does.

    Example:
        >>> from modgen.recipes import amaz
        >>> recipe_difference(amaz(), amaz()) is None
        True
        >>> recipe_difference(amaz(), evolve(amaz(), name="other"))
        "name: 'amaz' in the checkpoint, 'other' now"
    """

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
    difference = recipe_difference(saved, spec)
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
