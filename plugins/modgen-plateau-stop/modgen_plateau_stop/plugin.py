"""The plugin: :class:`PlateauStop` and the entry point's instance, configured from the environment."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from modgen.hookspecs import hookimpl

__all__ = ["PlateauStop", "modgen_train_record"]


class PlateauStop:
    """Stop when ``key`` has not improved by more than ``min_delta`` for ``patience`` records.

    Args:
        key: the training-record key to watch (``loss/ad_real``; absent from a record: ignored).
        patience: records without improvement before the run is stopped.
        min_delta: the least change that counts as an improvement.
        mode: ``"min"`` (lower is better) or ``"max"``.
    """

    def __init__(self, key: str, patience: int = 3, min_delta: float = 0.0, mode: str = "min") -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"PlateauStop mode: expected 'min' or 'max', got {mode!r}")
        if patience < 1:
            raise ValueError(f"PlateauStop patience: expected an integer >= 1, got {patience!r}")
        self.key, self.patience, self.min_delta, self.mode = key, patience, min_delta, mode
        self._best: dict[Path, tuple[float, int]] = {}  # per run folder: best value, records since

    def check(self, folder: Path, record: dict[str, Any]) -> str | None:
        """The reason to stop after ``record`` of the run in ``folder``, or ``None``."""
        value = record.get(self.key)
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            return None
        sign = 1.0 if self.mode == "min" else -1.0
        best, waited = self._best.get(folder, (math.inf, 0))
        if sign * value < best - self.min_delta:
            self._best[folder] = (sign * value, 0)
            return None
        waited += 1
        self._best[folder] = (best, waited)
        if waited >= self.patience:
            return (
                f"plateau: {self.key} has not improved by more than {self.min_delta} for {waited} records "
                f"(best {sign * best:.6g}, now {value:.6g})"
            )
        return None

    @hookimpl
    def modgen_train_record(
        self, spec: Any, folder: Path, episode: int, record: dict[str, Any]
    ) -> str | None:
        return self.check(Path(folder), record)


def _from_environment() -> PlateauStop | None:
    key = os.environ.get("MODGEN_PLATEAU_KEY", "").strip()
    if not key:
        return None
    return PlateauStop(
        key,
        patience=int(os.environ.get("MODGEN_PLATEAU_PATIENCE", "3")),
        min_delta=float(os.environ.get("MODGEN_PLATEAU_MIN_DELTA", "0")),
        mode=os.environ.get("MODGEN_PLATEAU_MODE", "min").strip(),
    )


_ACTIVE: dict[str, PlateauStop | None] = {}


@hookimpl
def modgen_train_record(spec: Any, folder: Path, episode: int, record: dict[str, Any]) -> str | None:
    """The entry point's hook: a :class:`PlateauStop` set by ``MODGEN_PLATEAU_*``; off when unset."""
    key = os.environ.get("MODGEN_PLATEAU_KEY", "")
    if key not in _ACTIVE:  # the settings are read once per key
        _ACTIVE[key] = _from_environment()
    stopper = _ACTIVE[key]
    return stopper.check(Path(folder), record) if stopper is not None else None
