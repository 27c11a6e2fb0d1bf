"""Run folders and checkpoints.

A run folder holds everything one training run writes::

    RUN/
      config.toml          the fully resolved RecipeSpec
      metrics.jsonl        one JSON object per logged episode (each loss part, seconds/episode)
      checkpoints/last.pt  the newest checkpoint (written atomically: temporary file + rename)
      summary.json         what the run did (episodes, time, device, data preprocessing)
      results.json/.md     evaluation results (after training, or `modgen evaluate RUN`)
      plots/*.png          loss curves and other figures

Checkpoints are plain dicts of tensors and primitives, loaded with ``weights_only=True``.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from modgen.errors import CheckpointError

__all__ = [
    "CHECKPOINT_FORMAT",
    "RunDir",
    "save_checkpoint",
    "load_checkpoint",
    "atomic_write_text",
]

CHECKPOINT_FORMAT = "modgen-checkpoint"
CHECKPOINT_VERSION = 1


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename (never half-written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Save ``payload`` atomically: a crash mid-write leaves the previous checkpoint intact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **payload}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(body, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` (``weights_only=True``).

    Raises:
        CheckpointError: the file is missing, unreadable, corrupt, or not a modgen checkpoint;
            the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Checkpoint {str(path)!r} does not exist")
    try:
        body = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means a corrupt file
        raise CheckpointError(
            f"Checkpoint {str(path)!r} is corrupt or not a PyTorch file ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''}); delete it or resume from another run"
        ) from err
    if not isinstance(body, dict) or body.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a modgen checkpoint (no format {CHECKPOINT_FORMAT!r})")
    if body.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"Checkpoint {str(path)!r} has version {body.get('version')!r}; this modgen reads "
            f"version {CHECKPOINT_VERSION}"
        )
    return body


class RunDir:
    """Paths and small writers of one run folder (see the module docstring)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    @property
    def config(self) -> Path:
        return self.root / "config.toml"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def checkpoint(self) -> Path:
        return self.root / "checkpoints" / "last.pt"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    @property
    def plots(self) -> Path:
        return self.root / "plots"

    def create(self) -> RunDir:
        self.root.mkdir(parents=True, exist_ok=True)
        return self

    def append_metrics(self, records: list[dict[str, Any]]) -> None:
        """Append metric records (one JSON object per line)."""
        if not records:
            return
        with open(self.metrics, "a", encoding="utf-8") as fh:
            for rec in records:
                fh.write(json.dumps(rec) + "\n")

    def truncate_metrics(self, after_episode: int) -> None:
        """Drop metric records past ``after_episode`` (a resumed run rewrites them)."""
        if not self.metrics.exists():
            return
        keep = [
            line
            for line in self.metrics.read_text(encoding="utf-8").splitlines()
            if line.strip() and json.loads(line).get("episode", 0) <= after_episode
        ]
        atomic_write_text(self.metrics, "".join(k + "\n" for k in keep))

    def read_metrics(self) -> list[dict[str, Any]]:
        if not self.metrics.exists():
            return []
        return [json.loads(x) for x in self.metrics.read_text(encoding="utf-8").splitlines() if x.strip()]

    def write_json(self, path: Path, data: Any) -> None:
        atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
