"""The run folder: whether a run may be written into it, making it ready, and what it records.

* :func:`check_folder` refuses a folder where writing would lose something (and changes nothing);
  :func:`prepare_folder` clears it for ``overwrite`` under its lock.
* :func:`resume_spec`: the spec a run in a folder continues with.
* :func:`provenance` and :func:`mark_state`: ``provenance.json`` (versions, machine, threads,
  the run's state).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modgen.errors import CheckpointError, ConfigError
from modgen.pipeline._spec import read_spec, spec_id, validate_spec, with_run_settings
from modgen.rundir import RunDir, check_writable_folder, now, write_json

if TYPE_CHECKING:
    import os

    from modgen.config import RecipeSpec
    from modgen.registry import Registries

__all__ = ["check_folder", "prepare_folder", "resume_spec", "provenance", "mark_state", "record_stop"]


def check_folder(run: RunDir, *, resume: bool, overwrite: bool, locked: bool = False) -> None:
    """Refuse to write into ``run`` where that would lose something; reads only, changes nothing.

    ``locked``: the caller holds the folder's lock (else a process holding it is named first).

    Raises:
        RunLockedError: another process is writing ``run`` (the message gives its pid).
        ConfigError: ``run`` already holds a run (and neither ``resume`` nor ``overwrite``),
            ``resume`` without a run there, or a folder with other files in it (which are never
            deleted, ``overwrite`` or not).
        CheckpointError: ``resume`` of a run that finished training but lost its checkpoint.
        ModgenError: ``run`` is a file, lies under one, or cannot be written.
    """
    root = run.root
    check_writable_folder(root, "use as the run folder")
    if not locked:
        run.check_unlocked()
    if resume:
        _require_config(run)
        if run.summary.is_file() and not run.checkpoint.is_file():
            raise CheckpointError(
                f"--resume {str(root)!r}: the run finished training but its checkpoint {str(run.checkpoint)!r} is "
                "missing, so there is nothing to continue from; train it again with --overwrite"
            )
        return
    if run.exists():
        if not overwrite:
            state = "a finished run" if run.is_finished() else "an unfinished run"
            raise ConfigError(
                f"run folder {str(root)!r} already holds {state}; add --resume to continue it, --overwrite "
                "to replace it, or choose another --out"
            )
    elif root.is_dir() and any(not p.name.startswith(".") for p in root.iterdir()):
        raise ConfigError(
            f"--out {str(root)!r} is a folder with other files in it (not a modgen run); choose an empty or "
            "new folder"
        )


def resume_spec(
    registries: Registries,
    folder: str | os.PathLike[str],
    *,
    episodes: int | None = None,
    device: str | None = None,
    threads: int | None = None,
) -> RecipeSpec:
    """The spec a resumed run continues: the run's own ``config.toml``, with only what a resume may
    change (the episodes, the device, the threads; see :func:`~modgen.train.checkpoint.recipe_difference`).

    Raises:
        ConfigError: ``folder`` holds no run (no config.toml), or a value is invalid.
    """
    run = RunDir(folder)
    _require_config(run)
    spec = with_run_settings(
        read_spec(run.config), episodes=episodes, seed=None, device=device, threads=threads
    )
    return validate_spec(spec, registries)


def _require_config(run: RunDir) -> None:
    if not run.config.is_file():
        raise ConfigError(
            f"--resume {str(run.root)!r}: not a run folder (no config.toml); give the folder of a run "
            "(modgen train --out), or start a new run without --resume"
        )


def prepare_folder(run: RunDir, *, resume: bool, overwrite: bool) -> None:
    """Make sure writing into ``run`` loses nothing: :func:`check_folder`, then, with
    ``overwrite``, delete the run there. Call it while holding the folder's lock, so another
    process's run is never deleted.

    Raises:
        RunLockedError, ConfigError, CheckpointError, ModgenError: as :func:`check_folder`.
    """
    check_folder(run, resume=resume, overwrite=overwrite, locked=True)
    if not resume and overwrite and run.exists():
        run.clear()


def provenance(spec: RecipeSpec, registries: Registries, device: Any, threads: int) -> dict[str, Any]:
    """What ``provenance.json`` records of a run: versions, commit, plugins, machine, device, threads."""
    import platform
    import sys

    import torch

    from modgen._version import __version__
    from modgen.plugins import plugin_versions
    from modgen.runtime import git_commit, machine_name

    return {
        "modgen": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "command": " ".join(sys.argv),
        "commit": git_commit(),
        "plugins": plugin_versions(registries),
        "machine": machine_name(device),
        "device": str(device),
        "threads": threads,
        "started": now(),
        "spec_id": spec_id(spec),
    }


def mark_state(folder: RunDir, state: str, err: BaseException | None) -> None:
    """Record in ``provenance.json`` that the run is ``state`` (``finished``, ``failed``,
    ``interrupted``), with the time and the error; never raises a bookkeeping error."""
    import json

    try:
        prov = json.loads(folder.provenance.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        prov = {}
    prov.update(state=state, ended=now())
    if err is not None:
        prov["error"] = f"{type(err).__name__}: {err}"
    try:
        write_json(folder.provenance, prov)
    except Exception:  # noqa: BLE001 - never hide the original error behind a bookkeeping one
        pass


def record_stop(folder: RunDir, episode: int, reason: str) -> None:
    """Record in ``provenance.json`` that a ``modgen_train_record`` callback stopped training early:
    ``stopped_early = {"episode": ..., "reason": ...}``."""
    import json

    try:
        prov = json.loads(folder.provenance.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        prov = {}
    prov["stopped_early"] = {"episode": episode, "reason": reason}
    write_json(folder.provenance, prov)
